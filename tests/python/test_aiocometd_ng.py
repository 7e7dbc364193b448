"""aiocometd-ng, a plain asyncio CometD client, against Bayou's Bayeux endpoint (no login:
`--anonymous`), over WebSocket and over long-polling, unchanged."""

import asyncio
import unittest

from aiocometd_ng import Client, ConnectionType

from bayou_process import BayouProcess

WAIT = 10


class AiocometdNg(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        self.bayou = BayouProcess(anonymous=True)
        self.addCleanup(self.bayou.stop)
        self.url = f"{self.bayou.origin}/cometd/66.0"

    async def round_trip(self, connection_type: ConnectionType) -> None:
        async with Client(self.url, connection_types=[connection_type]) as listener, \
                Client(self.url, connection_types=[connection_type]) as speaker:
            await listener.subscribe("/chat/py")
            await speaker.publish("/chat/py", {"text": "one"})
            await speaker.publish("/chat/py", {"text": "two"})
            received = []

            async def take() -> None:
                async for message in listener:
                    received.append(message)
                    if len(received) == 2:
                        return
            await asyncio.wait_for(take(), WAIT)
        self.assertEqual([m["data"]["text"] for m in received], ["one", "two"])
        self.assertTrue(all(m["channel"] == "/chat/py" for m in received))

    async def test_websocket(self) -> None:
        await self.round_trip(ConnectionType.WEBSOCKET)

    async def test_long_polling(self) -> None:
        await self.round_trip(ConnectionType.LONG_POLLING)


if __name__ == "__main__":
    unittest.main()
