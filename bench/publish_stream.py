"""One Pub/Sub API `PublishStream` publishing as fast as the server answers.

COUNT requests of one `Low_Ink__e` event each go out on one stream without waiting for
responses (gRPC takes them as fast as HTTP/2 flow control allows); the run ends when every
response is in. Prints requests answered per second, and the server's CPU. The server is
pinned to CPU 0 and this client to CPU 1, as the other benchmarks do; the Pub/Sub API runs in
plaintext so the figure is the server's, not TLS's.

Usage (the test command installs the virtual environment and builds the binary):

    BAYOU_BIN=target/release/bayou target/python-venv/bin/python bench/publish_stream.py \
        [COUNT] [-- BAYOU-SERVE-ARGS...]

e.g. `... bench/publish_stream.py 5000 -- --durability sync`.
"""

import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
import grpc  # noqa: E402
import requests  # noqa: E402

from bayou_process import BayouProcess  # noqa: E402

TOPIC = "/event/Low_Ink__e"
CONFIG = """
[[platform_events]]
name = "Low_Ink__e"
fields = { Printer_Model__c = "text", Ink_Percentage__c = "number" }
"""


def stubs(into: str):
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc",
         f"--proto_path={REPO / 'crates' / 'bayou-pubsub-proto' / 'proto'}",
         f"--python_out={into}", f"--grpc_python_out={into}", "pubsub_api.proto"],
        check=True)
    sys.path.insert(0, into)
    import pubsub_api_pb2
    import pubsub_api_pb2_grpc
    return pubsub_api_pb2, pubsub_api_pb2_grpc


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    args = sys.argv[1:]
    serve_args = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    count = int(args[0]) if args else 5000
    with tempfile.TemporaryDirectory() as scratch:
        pb2, pb2_grpc = stubs(scratch)
        config = Path(scratch) / "bayou.toml"
        config.write_text(CONFIG)
        with BayouProcess("--config", str(config), "--pubsub-plaintext", *serve_args) as bayou:
            os.sched_setaffinity(bayou.process.pid, {0})
            os.sched_setaffinity(0, {1})
            token = bayou.token()
            info = requests.get(f"{bayou.origin}/services/oauth2/userinfo",
                                headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
            metadata = (("accesstoken", token), ("instanceurl", bayou.origin),
                        ("tenantid", info["organization_id"]))
            stub = pb2_grpc.PubSubStub(grpc.insecure_channel(bayou.pubsub))
            topic = stub.GetTopic(pb2.TopicRequest(topic_name=TOPIC), metadata=metadata)
            schema = avro.schema.parse(stub.GetSchema(
                pb2.SchemaRequest(schema_id=topic.schema_id), metadata=metadata).schema_json)
            buf = io.BytesIO()
            avro.io.DatumWriter(schema).write(
                {"CreatedDate": 1_700_000_000_000, "CreatedById": "005000000000000AAA",
                 "Printer_Model__c": "bench", "Ink_Percentage__c": 0.5},
                avro.io.BinaryEncoder(buf))
            request = pb2.PublishRequest(topic_name=TOPIC, events=[
                pb2.ProducerEvent(schema_id=topic.schema_id, payload=buf.getvalue())])

            def requests_out():
                for _ in range(count):
                    yield request

            cpu_before, start = cpu_seconds(bayou.process.pid), time.monotonic()
            answered = failed = 0
            for response in stub.PublishStream(requests_out(), metadata=metadata):
                answered += 1
                failed += sum(1 for r in response.results if r.HasField("error"))
            elapsed = time.monotonic() - start
            cpu = cpu_seconds(bayou.process.pid) - cpu_before
            print(f"{answered} requests answered in {elapsed:.2f} s: {answered / elapsed:,.0f}/s, "
                  f"{failed} failed, server {cpu / elapsed:.2f} cores "
                  f"({cpu / answered * 1e6:.0f} µs per request)")


if __name__ == "__main__":
    main()
