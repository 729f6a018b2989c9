"""Tests of the Python client against the real server binary, started by
.ci/clients.sh: PAYMENTCOMPLETION_ADDR is its address, DEMOCHECKOUT
prepares checkout sessions at its embedded simulator."""

import json
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


def session(scenario, *args):
    """A checkout session the buyer "paid" with the simulator scenario."""
    out = subprocess.run([env("DEMOCHECKOUT"), "-scenario", scenario, *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def order():
    return "py-" + str(uuid.uuid4())


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stub, cls.channel = pc.connect(env("PAYMENTCOMPLETION_ADDR"))

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def complete(self, session_id, order_id, amount="14.00"):
        return self.stub.CompleteCheckout(
            pb.CompleteCheckoutRequest(
                checkout_session_id=session_id,
                order_id=order_id,
                charge_amount=pb.Money(amount=amount, currency_code="USD"),
            )
        ).payment

    def rejection(self, call):
        with self.assertRaises(grpc.RpcError) as cm:
            call()
        return cm.exception

    def test_completed_and_read_back(self):
        order_id = order()
        p = self.complete(session("Authorized"), order_id)
        self.assertEqual(p.outcome, pb.OUTCOME_COMPLETED)
        self.assertRegex(p.charge_id, r"^[A-Z]\d{2}-\d{7}-\d{7}-C\d{6}$")
        again = self.stub.GetPayment(pb.GetPaymentRequest(order_id=order_id)).payment
        self.assertEqual(again.checkout_session_id, p.checkout_session_id)
        # A retry of the same completion returns the stored payment.
        self.assertEqual(self.complete(p.checkout_session_id, order_id).charge_id, p.charge_id)

    def test_declined_and_canceled_are_answers(self):
        declined = self.complete(session("Declined"), order())
        self.assertEqual(declined.outcome, pb.OUTCOME_DECLINED)
        self.assertNotEqual(declined.reason_code, "")
        canceled = self.complete(session("BuyerCanceled"), order())
        self.assertEqual(canceled.outcome, pb.OUTCOME_CANCELED)
        self.assertEqual(canceled.reason_code, "BuyerCanceled")

    def test_pending_followed_with_watch(self):
        s = session("PendingThenAuthorized", "-pending")
        self.assertEqual(self.complete(s, order()).outcome, pb.OUTCOME_PENDING)
        seen = [u.payment.outcome for u in self.stub.WatchPayment(pb.WatchPaymentRequest(checkout_session_id=s), timeout=30)]
        self.assertEqual(seen[0], pb.OUTCOME_PENDING)
        self.assertEqual(seen[-1], pb.OUTCOME_COMPLETED)

    def test_invalid_request_lists_fields(self):
        err = self.rejection(
            lambda: self.stub.CompleteCheckout(
                pb.CompleteCheckoutRequest(
                    checkout_session_id="not-a-uuid",
                    order_id=order(),
                    charge_amount=pb.Money(amount="14.0", currency_code="USD"),
                )
            )
        )
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(pc.error_reason(err), pb.ERROR_REASON_INVALID_REQUEST)
        fields = [f for f, _ in pc.field_violations(err)]
        self.assertIn("checkout_session_id", fields)
        self.assertTrue(any(f.startswith("charge_amount") for f in fields), fields)
        self.assertTrue(all(d for _, d in pc.field_violations(err)))
        # The trailer decodes to the same google.rpc.Status the code says.
        self.assertEqual(pc.status_details(err).code, grpc.StatusCode.INVALID_ARGUMENT.value[0])

    def test_errors_with_reasons(self):
        cases = [
            ("amount mismatch", lambda: self.complete(session("Authorized"), order(), "15.00"),
             grpc.StatusCode.FAILED_PRECONDITION, pb.ERROR_REASON_AMOUNT_MISMATCH),
            ("buyer not back yet", lambda: self.complete(session("none"), order()),
             grpc.StatusCode.FAILED_PRECONDITION, pb.ERROR_REASON_CHECKOUT_SESSION_NOT_READY),
            ("unknown session", lambda: self.complete(str(uuid.uuid4()), order()),
             grpc.StatusCode.NOT_FOUND, pb.ERROR_REASON_CHECKOUT_SESSION_NOT_FOUND),
            ("no payment", lambda: self.stub.GetPayment(pb.GetPaymentRequest(order_id=order())),
             grpc.StatusCode.NOT_FOUND, pb.ERROR_REASON_PAYMENT_NOT_FOUND),
        ]
        for name, call, code, reason in cases:
            with self.subTest(name):
                err = self.rejection(call)
                self.assertEqual(err.code(), code)
                self.assertEqual(pc.error_reason(err), reason, pc.error_info(err))
                self.assertEqual(pc.field_violations(err), [])
                self.assertIsNone(pc.retry_delay(err))

    def test_session_bound_to_other_order(self):
        s, first = session("Authorized"), order()
        self.complete(s, first)
        err = self.rejection(lambda: self.complete(s, order()))
        self.assertEqual(pc.error_reason(err), pb.ERROR_REASON_SESSION_BOUND_TO_OTHER_REQUEST)
        self.assertEqual(pc.error_info(err).metadata["order_id"], first)

    def test_service_config_is_the_repository_one(self):
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "..", "..", "gen", "serviceconfig", "service_config.json"), encoding="utf-8") as f:
            self.assertEqual(json.loads(pc.SERVICE_CONFIG), json.load(f))


if __name__ == "__main__":
    unittest.main()
