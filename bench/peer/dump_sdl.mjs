// Print the SDL of a running GraphQL server: node dump_sdl.mjs http://127.0.0.1:5678/graphql
// (used by ../shared/peer/samedb.sh for PostGraphile; needs the `graphql` package in node_modules).
import { buildClientSchema, getIntrospectionQuery, printSchema } from "graphql";

const url = process.argv[2];
if (!url) {
  console.error("usage: node dump_sdl.mjs URL");
  process.exit(2);
}
const res = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json", accept: "application/json" },
  body: JSON.stringify({ query: getIntrospectionQuery() }),
});
if (!res.ok) {
  console.error(`${url}: HTTP ${res.status}: ${(await res.text()).slice(0, 400)}`);
  process.exit(1);
}
const body = await res.json();
if (body.errors?.length || !body.data) {
  console.error(`${url}: ${JSON.stringify(body.errors ?? body).slice(0, 400)}`);
  process.exit(1);
}
process.stdout.write(printSchema(buildClientSchema(body.data)) + "\n");
