"""aiosfstream-ng, the maintained asyncio Salesforce streaming client, against Bayou.

Its authenticators post to login.salesforce.com (the token URL is a property with no public
setting): the one change is a subclass that names Bayou's token URL instead. Everything else —
the CometD endpoint built from the token reply's `instance_url` at API 45.0, the replay
extension, the replay marker storage — is the library's own.
"""

import asyncio
import unittest

from aiosfstream_ng import Client, MappingStorage, PasswordAuthenticator, ReplayOption

from bayou_process import CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME, BayouProcess

WAIT = 10


class BayouPasswordAuthenticator(PasswordAuthenticator):
    """PasswordAuthenticator with Bayou's token URL instead of login.salesforce.com's."""

    def __init__(self, token_url: str) -> None:
        super().__init__(consumer_key=CLIENT_ID, consumer_secret=CLIENT_SECRET,
                         username=USERNAME, password=PASSWORD)
        self.bayou_token_url = token_url

    @property
    def _token_url(self) -> str:
        return self.bayou_token_url


async def receive(client: Client, count: int) -> list:
    messages = []
    async def take() -> None:
        async for message in client:
            messages.append(message)
            if len(messages) == count:
                return
    await asyncio.wait_for(take(), WAIT)
    return messages


def names(messages: list) -> list:
    return [m["data"]["sobject"]["Name"] for m in messages]


class AiosfstreamNg(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        self.bayou = BayouProcess()
        self.addCleanup(self.bayou.stop)
        self.bayou.create("PushTopic", {
            "Name": "PyAccounts", "Query": "SELECT Id, Name FROM Account",
            "ApiVersion": 45.0, "NotifyForFields": "Referenced"})

    def client(self, replay) -> Client:
        return Client(BayouPasswordAuthenticator(self.bayou.token_url), replay=replay)

    async def test_replays_everything_then_streams_live(self) -> None:
        self.bayou.create("Account", {"Name": "Stored"})
        async with self.client(ReplayOption.ALL_EVENTS) as client:
            await client.subscribe("/topic/PyAccounts")
            self.bayou.create("Account", {"Name": "Live"})
            messages = await receive(client, 2)
        self.assertEqual(names(messages), ["Stored", "Live"])
        self.assertEqual([m["data"]["event"]["type"] for m in messages], ["created", "created"])
        first, second = (m["data"]["event"]["replayId"] for m in messages)
        self.assertLess(first, second)

    async def test_a_replay_store_resumes_after_the_last_event_seen(self) -> None:
        markers: dict = {}
        self.bayou.create("Account", {"Name": "Seen"})
        async with self.client(MappingStorage(markers)) as client:
            # No marker yet for the channel: the storage's default, new events only; then
            # the one created while subscribed.
            await client.subscribe("/topic/PyAccounts")
            self.bayou.create("Account", {"Name": "Also seen"})
            self.assertEqual(names(await receive(client, 1)), ["Also seen"])
        self.assertIn("/topic/PyAccounts", markers)

        # Missed while disconnected: the next client resumes from the stored marker.
        self.bayou.create("Account", {"Name": "Missed one"})
        self.bayou.create("Account", {"Name": "Missed two"})
        async with self.client(MappingStorage(markers)) as client:
            await client.subscribe("/topic/PyAccounts")
            self.assertEqual(names(await receive(client, 2)), ["Missed one", "Missed two"])


if __name__ == "__main__":
    unittest.main()
