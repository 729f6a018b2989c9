"""Completes an Amazon Pay checkout through the paymentcompletion service,
over TLS when PAYMENTCOMPLETION_CA_FILE is set (with a client certificate
when PAYMENTCOMPLETION_CERT_FILE and PAYMENTCOMPLETION_KEY_FILE are, and a
bearer token when PAYMENTCOMPLETION_TOKEN is), and prints what the
storefront should do.

    python3 storefront.py SESSION_ID ORDER_ID 14.00 USD
"""
import os
import sys

import grpc

import paymentcompletion_client as pc
from paymentcompletion.v1 import payment_completion_pb2 as pb

session_id, order_id, amount, currency = sys.argv[1:5]
env = lambda name: os.environ.get(name) or None  # empty is unset
stub, channel = pc.connect(
    env("PAYMENTCOMPLETION_ADDR") or "127.0.0.1:50051",
    ca_file=env("PAYMENTCOMPLETION_CA_FILE"),  # the CA that signed the server's certificate
    cert_file=env("PAYMENTCOMPLETION_CERT_FILE"),  # mTLS: this storefront's certificate and key
    key_file=env("PAYMENTCOMPLETION_KEY_FILE"),
    token=env("PAYMENTCOMPLETION_TOKEN"),  # call credentials: sent with every call
)  # and the service config: retries, timeouts
try:
    payment = stub.CompleteCheckout(pb.CompleteCheckoutRequest(
        checkout_session_id=session_id,  # amazonCheckoutSessionId from the return URL
        order_id=order_id,
        charge_amount=pb.Money(amount=amount, currency_code=currency),
    )).payment
except grpc.RpcError as err:
    reason = pc.error_reason(err)  # from the google.rpc.ErrorInfo in grpc-status-details-bin
    name = pb.ErrorReason.Name(reason).removeprefix("ERROR_REASON_")
    if reason in (pb.ERROR_REASON_AMOUNT_MISMATCH, pb.ERROR_REASON_CURRENCY_MISMATCH):
        print(name + ": charge the amount set on the checkout session")
    elif reason == pb.ERROR_REASON_CHECKOUT_SESSION_NOT_READY:
        print(name + ": send the buyer back to Amazon Pay")
    elif reason in (pb.ERROR_REASON_AMAZON_PAY_UNAVAILABLE, pb.ERROR_REASON_STORE_UNAVAILABLE,
                    pb.ERROR_REASON_SHUTTING_DOWN):
        print(name + ": retry the same call later")
    elif pc.connection_problem(err):
        print(pc.connection_problem(err) + ": fix the TLS settings; retrying cannot help")
    else:
        print(f"{err.code().name} {name}: {err.details()}")
    sys.exit(1)
finally:
    channel.close()

if payment.outcome == pb.OUTCOME_COMPLETED:
    print("COMPLETED: show the order confirmation, charge", payment.charge_id)
elif payment.outcome in (pb.OUTCOME_PENDING, pb.OUTCOME_UNKNOWN):
    print('PENDING: show "payment being confirmed"; follow it with WatchPayment')
elif payment.outcome == pb.OUTCOME_DECLINED:
    print("DECLINED: ask for another payment method,", payment.reason_code)
elif payment.outcome == pb.OUTCOME_CANCELED:
    print("CANCELED: show the cart again,", payment.reason_code)
