// PostGraphile 5 for the side-by-side comparison of issue #16 (scripts/peer-samedb.sh, which runs
// ../shared/peer/samedb.sh; its graphile.samedb.mjs extends this preset with one smart tag).
// Amber preset + connection-filter, nothing else: default inflection (allJobPostings,
// jobPostingByRowId), no simplify-inflection, no subscriptions, no extra plugins.
//   DATABASE_URL  PostgreSQL to expose (schema `public`), pool of at most 10 connections
//   PG_PEER_PORT  port on 127.0.0.1 (default 5678)
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is not set");

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 10 },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PG_PEER_PORT ?? 5678),
  },
};

export default preset;
