"""A Pub/Sub API client written the way Salesforce's published Python example is
(forcedotcom/pub-sub-api, python/InventoryAppExample/PubSub.py): SOAP `login()` whose reply it
reads by element position, stubs generated from `pubsub_api.proto` with grpcio-tools, `avro` for
payloads, a request generator gated by a semaphore for flow control. What differs from talking
to Salesforce: the login URL, the gRPC address, and trusting Bayou's certificate instead of
certifi's roots.
"""

import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
import xml.etree.ElementTree as et
from pathlib import Path

import avro.io
import avro.schema
import grpc
import requests

from bayou_process import PASSWORD, REPO, USERNAME, BayouProcess

PROTO_DIR = REPO / "crates" / "bayou-pubsub-proto" / "proto"
TOPIC = "/event/Low_Ink__e"
WAIT = 20

CONFIG = """
[[platform_events]]
name = "Low_Ink__e"
fields = { Printer_Model__c = "text", Ink_Percentage__c = "number" }
"""


def generate_stubs(into: Path) -> None:
    """pubsub_api_pb2 and pubsub_api_pb2_grpc, as the example's README has users generate them."""
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"--proto_path={PROTO_DIR}",
         f"--python_out={into}", f"--grpc_python_out={into}", "pubsub_api.proto"],
        check=True)
    sys.path.insert(0, str(into))


class PubSubExampleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._stubs = tempfile.TemporaryDirectory(prefix="bayou-pb2-")
        generate_stubs(Path(cls._stubs.name))
        global pb2, pb2_grpc
        import pubsub_api_pb2 as pb2  # noqa: E402 (generated above)
        import pubsub_api_pb2_grpc as pb2_grpc

    @classmethod
    def tearDownClass(cls) -> None:
        cls._stubs.cleanup()

    def setUp(self) -> None:
        self._config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        self._config.write(CONFIG)
        self._config.close()
        self.addCleanup(os.unlink, self._config.name)
        self.bayou = BayouProcess("--config", self._config.name)
        self.addCleanup(self.bayou.stop)
        self.assertIsNotNone(self.bayou.pubsub, "the Pub/Sub API did not announce itself")
        certificate = (self.bayou.data_dir / "pubsub-cert.pem").read_bytes()
        channel = grpc.secure_channel(self.bayou.pubsub, grpc.ssl_channel_credentials(certificate))
        self.addCleanup(channel.close)
        self.stub = pb2_grpc.PubSubStub(channel)
        self.auth()

    def auth(self) -> None:
        """The example's SOAP login, element positions and all."""
        url_suffix = "/services/Soap/u/57.0/"
        headers = {"content-type": "text/xml", "SOAPAction": "Login"}
        xml = ("<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/' "
               "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' "
               "xmlns:urn='urn:partner.soap.sforce.com'><soapenv:Body>"
               "<urn:login><urn:username><![CDATA[" + USERNAME +
               "]]></urn:username><urn:password><![CDATA[" + PASSWORD +
               "]]></urn:password></urn:login></soapenv:Body></soapenv:Envelope>")
        res = requests.post(self.bayou.origin + url_suffix, data=xml, headers=headers, timeout=WAIT)
        res_xml = et.fromstring(res.content.decode("utf-8"))[0][0][0]
        self.session_id = res_xml[4].text
        self.tenant_id = res_xml[6][8].text
        self.metadata = (("accesstoken", self.session_id),
                         ("instanceurl", self.bayou.origin),
                         ("tenantid", self.tenant_id))

    def schema(self, schema_id: str) -> avro.schema.Schema:
        info = self.stub.GetSchema(pb2.SchemaRequest(schema_id=schema_id),
                                   metadata=self.metadata, timeout=WAIT)
        return avro.schema.parse(info.schema_json)

    def publish(self, model: str, ink: float) -> int:
        topic = self.stub.GetTopic(pb2.TopicRequest(topic_name=TOPIC),
                                   metadata=self.metadata, timeout=WAIT)
        schema = self.schema(topic.schema_id)
        buf = io.BytesIO()
        avro.io.DatumWriter(schema).write(
            {"CreatedDate": 1_700_000_000_000, "CreatedById": "005000000000000AAA",
             "Printer_Model__c": model, "Ink_Percentage__c": ink},
            avro.io.BinaryEncoder(buf))
        event = {"schema_id": topic.schema_id, "payload": buf.getvalue()}
        reply = self.stub.Publish(pb2.PublishRequest(topic_name=TOPIC, events=[event]),
                                  metadata=self.metadata, timeout=WAIT)
        self.assertFalse(reply.results[0].HasField("error"), reply)
        return int.from_bytes(reply.results[0].replay_id, "big")

    def subscribe(self, preset, num_requested: int, count: int, replay_id: bytes = b"",
                  on_event=None) -> list:
        """Events until `count` came, asking for `num_requested` more each time the previous
        request is used up (the example's semaphore-gated request stream). `on_event` is called
        with each event as it is decoded."""
        semaphore = threading.Semaphore(1)
        done = threading.Event()

        def fetch_req_stream():
            while not done.is_set():
                if semaphore.acquire(timeout=0.5):
                    yield pb2.FetchRequest(topic_name=TOPIC, replay_preset=preset,
                                           replay_id=replay_id, num_requested=num_requested)

        responses = self.stub.Subscribe(fetch_req_stream(), metadata=self.metadata, timeout=WAIT)
        events = []
        try:
            for response in responses:
                for event in response.events:
                    schema = self.schema(event.event.schema_id)
                    decoder = avro.io.BinaryDecoder(io.BytesIO(event.event.payload))
                    payload = avro.io.DatumReader(schema).read(decoder)
                    events.append((int.from_bytes(event.replay_id, "big"), payload))
                    if on_event is not None:
                        on_event(events[-1])
                if len(events) >= count:
                    return events
                if response.pending_num_requested == 0:
                    semaphore.release()
        finally:
            done.set()
            responses.cancel()
        return events

    def test_rest_and_grpc_events_replay_from_earliest_in_avro(self) -> None:
        self.bayou.create("Low_Ink__e", {"Printer_Model__c": "rest", "Ink_Percentage__c": 0.1})
        published = self.publish("grpc", 0.2)
        events = self.subscribe(pb2.ReplayPreset.EARLIEST, 1, 2)
        self.assertEqual([e[1]["Printer_Model__c"] for e in events], ["rest", "grpc"])
        self.assertEqual(events[1][0], published)
        self.assertLess(events[0][0], events[1][0])
        self.assertEqual(events[0][1]["Ink_Percentage__c"], 0.1)
        self.assertIsInstance(events[0][1]["CreatedDate"], int)

    def test_custom_replay_resumes_after_the_given_id(self) -> None:
        first = self.publish("one", 0.1)
        second = self.publish("two", 0.2)
        events = self.subscribe(pb2.ReplayPreset.CUSTOM, 5, 1, replay_id=first.to_bytes(8, "big"))
        self.assertEqual(events[0][0], second)
        self.assertEqual(events[0][1]["Printer_Model__c"], "two")

    def test_a_corrupted_replay_id_is_invalid_argument(self) -> None:
        with self.assertRaises(grpc.RpcError) as raised:
            self.subscribe(pb2.ReplayPreset.CUSTOM, 1, 1, replay_id=b"\x01\x02")
        error = raised.exception
        self.assertEqual(error.code(), grpc.StatusCode.INVALID_ARGUMENT)
        trailers = dict(error.trailing_metadata())
        self.assertEqual(trailers["error-code"],
                         "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted")


    def subscriptions(self) -> float:
        """The server's `bayou_pubsub_subscriptions` gauge: streams whose start is fixed."""
        with urllib.request.urlopen(self.bayou.origin + "/metrics", timeout=WAIT) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith("bayou_pubsub_subscriptions "):
                    return float(line.split()[1])
        return 0.0

    def test_latest_sees_only_what_is_published_after_it_is_set_up(self) -> None:
        self.publish("before", 0.1)
        result = {}

        def run() -> None:
            try:
                result["events"] = self.subscribe(pb2.ReplayPreset.LATEST, 5, 1)
            except grpc.RpcError as error:
                result["error"] = error
        subscriber = threading.Thread(target=run)
        subscriber.start()
        # Once the server counts the stream, its start position is fixed.
        deadline = time.monotonic() + WAIT
        while self.subscriptions() < 1:
            self.assertLess(time.monotonic(), deadline, "the subscription was never set up")
            time.sleep(0.05)
        after = self.publish("after", 0.2)
        subscriber.join(WAIT)
        self.assertNotIn("error", result)
        self.assertEqual([(e[0], e[1]["Printer_Model__c"]) for e in result["events"]],
                         [(after, "after")])

    def test_a_token_revoked_mid_stream_ends_it_unauthenticated(self) -> None:
        self.publish("first", 0.1)

        def revoke_then_publish(_event) -> None:
            form = urllib.parse.urlencode({"token": self.session_id}).encode()
            urllib.request.urlopen(self.bayou.origin + "/services/oauth2/revoke", data=form,
                                   timeout=WAIT).close()
            # Published with another token: the stream's next event is the one it cannot send.
            self.bayou.create("Low_Ink__e", {"Printer_Model__c": "second"})
        with self.assertRaises(grpc.RpcError) as raised:
            self.subscribe(pb2.ReplayPreset.EARLIEST, 5, 2, on_event=revoke_then_publish)
        error = raised.exception
        self.assertEqual(error.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(dict(error.trailing_metadata())["error-code"],
                         "sfdc.platform.eventbus.grpc.service.auth.error")


if __name__ == "__main__":
    unittest.main()
