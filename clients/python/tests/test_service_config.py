"""Tests of the channel's service config and of the RetryInfo helper against
a small hand-written fake of the service (a grpcio server on a loopback
port): which calls gRPC retries, and what the error details decode to."""

import threading
import time
import unittest
from concurrent import futures

import grpc
from google.protobuf import duration_pb2

import paymentcompletion_client as pc
from paymentcompletion_client import error_details_pb2, status_pb2  # the google.rpc modules it uses
from paymentcompletion.v1 import payment_completion_pb2 as pb
from paymentcompletion.v1 import payment_completion_pb2_grpc as pb_grpc


class FakeService(pb_grpc.PaymentCompletionServiceServicer):
    """Fails the first `failures` GetPayment calls of each order ID with
    `code` and a RetryInfo of 300 ms; the order ID "slow" never answers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.script = {}
        self.calls = {}

    def GetPayment(self, request, context):
        key = request.order_id
        if key == "slow":
            deadline = time.monotonic() + 20
            while context.is_active() and time.monotonic() < deadline:
                time.sleep(0.05)
            return pb.GetPaymentResponse()
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            failures, code = self.script[key]
            fail = self.calls[key] <= failures
        if not fail:
            return pb.GetPaymentResponse()
        info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=300_000_000))
        st = status_pb2.Status(code=code.value[0], message="try again")
        st.details.add().Pack(info)
        context.set_trailing_metadata([("grpc-status-details-bin", st.SerializeToString())])
        context.abort(code, "try again")


class ServiceConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeService()
        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_PaymentCompletionServiceServicer_to_server(cls.fake, cls.server)
        port = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server.start()
        cls.stub, cls.channel = pc.connect("127.0.0.1:%d" % port)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.stop(None)

    def get(self, key, failures, code):
        self.fake.script[key] = (failures, code)
        return self.stub.GetPayment(pb.GetPaymentRequest(order_id=key))

    def test_unavailable_is_retried(self):
        self.get("retried", 2, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.fake.calls["retried"], 3)

    def test_method_timeout(self):
        # GetPayment's timeout in the service config is 5 s: a call without
        # its own timeout ends like one with timeout=5 (not after the
        # service-wide 10 s, nor never). grpcio enforces it on the client.
        def elapsed(**kwargs):
            start = time.monotonic()
            with self.assertRaises(grpc.RpcError) as cm:
                self.stub.GetPayment(pb.GetPaymentRequest(order_id="slow"), **kwargs)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            return time.monotonic() - start

        from_config, explicit = elapsed(), elapsed(timeout=5)
        self.assertLess(abs(from_config - explicit), 1.5, (from_config, explicit))

    def test_other_codes_are_not_retried(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.get("precondition", 1, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(self.fake.calls["precondition"], 1)
        self.assertEqual(pc.error_reason(cm.exception), pb.ERROR_REASON_UNSPECIFIED)

    def test_retry_delay_of_the_last_answer(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.get("exhausted", 10, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.fake.calls["exhausted"], 5)
        self.assertAlmostEqual(pc.retry_delay(cm.exception), 0.3)


if __name__ == "__main__":
    unittest.main()
