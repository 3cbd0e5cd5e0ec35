/** Sent as `agent_version` and in the User-Agent; kept equal to package.json by a unit test. */
export const AGENT_VERSION = '0.1.0';
