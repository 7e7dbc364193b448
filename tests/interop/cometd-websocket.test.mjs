// cometd over websocket against a real bayou process: see scenarios.mjs.
import { CometDTestClient } from "./clients/cometd.mjs";
import { interopSuite } from "./scenarios.mjs";

interopSuite(CometDTestClient, "websocket");
