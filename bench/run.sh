#!/usr/bin/env bash
# The benchmark (src/bin/bench.rs): the release service against pgbench on
# one PostgreSQL cluster of its own. Prints figures; asserts nothing.
#   bench/run.sh [SECONDS [CLIENTS [AGENTS]]]     (defaults 20, 16, 300)
# Needs PostgreSQL's server binaries (initdb, postgres, pgbench) and its
# pg_stat_statements module, as Debian's postgresql package installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin countersign --bin bench
exec target/release/bench "$@"
