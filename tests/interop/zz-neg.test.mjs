import { test } from "node:test";
import { FayeTestClient } from "./clients/faye.mjs";
import { CometDTestClient } from "./clients/cometd.mjs";
import { fixture } from "./scenarios.mjs";
for (const C of [FayeTestClient, CometDTestClient]) test(`NEGATIVE ${C.kind}: auto client claimed as long-polling must fail`, { timeout: 15000 }, async (t) => {
  const f = await fixture(t, C, "auto", { expected: "long-polling" });
  const { client: s } = await f.connect("s");
  const traffic = await f.traffic();
  const h = await s.subscribe("/x");
  await s.publish("/x", 1);
  await h.inbox.waitFor(() => true, "x");
  await traffic.check();
});
