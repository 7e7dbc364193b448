// faye over websocket against a real bayou process: see scenarios.mjs.
import { FayeTestClient } from "./clients/faye.mjs";
import { interopSuite } from "./scenarios.mjs";

interopSuite(FayeTestClient, "websocket");
