// oauth2-mock-server with Azure-style endpoint paths, for `cargo xtask interop`.
//
// The mock accepts any client; a BeforeResponse hook makes it check the
// confidential client's secret and answer a wrong one with an RFC 6749 /
// Azure AD shaped `invalid_client` error. It issues authorization codes at
// once (a non-interactive sign-in) and checks PKCE when a verifier is sent.
//
// Prints `READY http://127.0.0.1:PORT` once it listens (port 0 = any free port).
import { OAuth2Server } from "oauth2-mock-server";

const tenant = process.env.INTEROP_TENANT ?? "interop-tenant";
const confidentialId = "adu-confidential";
const confidentialSecret = process.env.INTEROP_CLIENT_SECRET ?? "interop-secret";
const port = Number(process.argv[2] ?? "0");

const server = new OAuth2Server(undefined, undefined, {
  endpoints: {
    token: `/${tenant}/oauth2/v2.0/token`,
    authorize: `/${tenant}/oauth2/v2.0/authorize`,
  },
});
await server.issuer.keys.generate("RS256");

server.service.on("beforeResponse", (response, req) => {
  const body = req.body ?? {};
  if (body.client_id === confidentialId && body.client_secret !== confidentialSecret) {
    response.statusCode = 401;
    response.body = {
      error: "invalid_client",
      error_description: "AADSTS7000215: Invalid client secret provided.",
      error_codes: [7000215],
      timestamp: new Date().toISOString(),
      trace_id: "00000000-0000-0000-0000-000000000001",
      correlation_id: "00000000-0000-0000-0000-000000000002",
    };
  }
});

await server.start(port, "127.0.0.1");
const { port: bound } = server.address();
console.log(`READY http://127.0.0.1:${bound}`);

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
