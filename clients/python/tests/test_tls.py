"""Tests of TLS, mTLS and the token against the real server binary, started
three times by .ci/clients.sh: in cleartext (PAYMENTCOMPLETION_ADDR), with
TLS and callers known by their token (PAYMENTCOMPLETION_TLS_ADDR), and with
mTLS (PAYMENTCOMPLETION_MTLS_ADDR). The CA and the client certificate are in
PAYMENTCOMPLETION_CA_FILE, _CERT_FILE and _KEY_FILE; OTHER_CA_FILE is
another CA."""

import os
import subprocess
import unittest
import uuid

import grpc

import paymentcompletion_client as pc
from paymentcompletion.v1 import payment_completion_pb2 as pb


def env(name):
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(name + " is not set: run through .ci/clients.sh")
    return value


def session(democheckout, scenario):
    out = subprocess.run([env(democheckout), "-scenario", scenario], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def order():
    return "py-tls-" + str(uuid.uuid4())


def complete(stub, session_id, amount="14.00"):
    return stub.CompleteCheckout(pb.CompleteCheckoutRequest(
        checkout_session_id=session_id,
        order_id=order(),
        charge_amount=pb.Money(amount=amount, currency_code="USD"),
    )).payment


class TLSTest(unittest.TestCase):
    def connect(self, addr, **kwargs):
        stub, channel = pc.connect(env(addr), **kwargs)
        self.addCleanup(channel.close)
        return stub

    def test_checkout_over_tls_and_mtls(self):
        ca = env("PAYMENTCOMPLETION_CA_FILE")
        servers = [
            ("TLS with a token", "PAYMENTCOMPLETION_TLS_ADDR", "DEMOCHECKOUT_TLS",
             dict(ca_file=ca, token=env("PAYMENTCOMPLETION_TOKEN"))),
            ("mTLS", "PAYMENTCOMPLETION_MTLS_ADDR", "DEMOCHECKOUT_MTLS",
             dict(ca_file=ca, cert_file=env("PAYMENTCOMPLETION_CERT_FILE"), key_file=env("PAYMENTCOMPLETION_KEY_FILE"))),
        ]
        for name, addr, democheckout, kwargs in servers:
            with self.subTest(name):
                stub = self.connect(addr, **kwargs)
                p = complete(stub, session(democheckout, "Authorized"))
                self.assertEqual(p.outcome, pb.OUTCOME_COMPLETED)
                self.assertEqual(stub.GetPayment(pb.GetPaymentRequest(order_id=p.order_id)).payment.charge_id, p.charge_id)
                with self.assertRaises(grpc.RpcError) as cm:
                    complete(stub, session(democheckout, "Authorized"), amount="15.00")
                self.assertEqual(pc.error_reason(cm.exception), pb.ERROR_REASON_AMOUNT_MISMATCH)
                self.assertIsNone(pc.connection_problem(cm.exception))

    def test_token_over_cleartext_loopback(self):
        # The cleartext server has no callers file: the token is accepted
        # and must not stop the call (local credentials carry it).
        stub = self.connect("PAYMENTCOMPLETION_ADDR", token="any")
        with self.assertRaises(grpc.RpcError) as cm:
            stub.GetPayment(pb.GetPaymentRequest(order_id=order()))
        self.assertEqual(pc.error_reason(cm.exception), pb.ERROR_REASON_PAYMENT_NOT_FOUND)

    def test_tls_without_token_is_unauthenticated(self):
        stub = self.connect("PAYMENTCOMPLETION_TLS_ADDR", ca_file=env("PAYMENTCOMPLETION_CA_FILE"))
        with self.assertRaises(grpc.RpcError) as cm:
            stub.GetPayment(pb.GetPaymentRequest(order_id=order()))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertIsNone(pc.connection_problem(cm.exception))

    def test_connection_problems(self):
        cases = [
            ("TLS to a cleartext server", "PAYMENTCOMPLETION_ADDR",
             dict(ca_file=env("PAYMENTCOMPLETION_CA_FILE")), "SERVER_NOT_TLS"),
            ("a CA that did not sign the server's certificate", "PAYMENTCOMPLETION_TLS_ADDR",
             dict(ca_file=env("OTHER_CA_FILE")), "SERVER_CERTIFICATE_UNTRUSTED"),
            ("a name the certificate does not carry", "PAYMENTCOMPLETION_TLS_ADDR",
             dict(ca_file=env("PAYMENTCOMPLETION_CA_FILE"), options=[("grpc.ssl_target_name_override", "pay.example")]),
             "SERVER_NAME_MISMATCH"),
        ]
        for name, addr, kwargs, problem in cases:
            with self.subTest(name):
                stub = self.connect(addr, **kwargs)
                # grpcio retries a failed connection (the service config's
                # retry policy, with its reconnect backoff: about 10 s
                # before the last attempt fails), so the deadline leaves
                # room for all of it on a busy machine.
                with self.assertRaises(grpc.RpcError) as cm:
                    stub.GetPayment(pb.GetPaymentRequest(order_id=order()), timeout=40)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
                self.assertEqual(pc.connection_problem(cm.exception), problem, cm.exception.details())

    def test_settings_that_do_not_fit(self):
        with self.assertRaisesRegex(ValueError, "cert_file and key_file go together"):
            pc.connect("127.0.0.1:1", ca_file=env("PAYMENTCOMPLETION_CA_FILE"), cert_file=env("PAYMENTCOMPLETION_CERT_FILE"))
        with self.assertRaisesRegex(ValueError, "ca_file: .*No such file"):
            pc.connect("127.0.0.1:1", ca_file="/nonexistent/ca.pem")
        with self.assertRaisesRegex(ValueError, "need tls"):
            pc.connect("127.0.0.1:1", ca_file=env("PAYMENTCOMPLETION_CA_FILE"), tls=False)


if __name__ == "__main__":
    unittest.main()
