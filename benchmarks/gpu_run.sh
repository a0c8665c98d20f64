#!/usr/bin/env bash
# The GPU suites on a lent machine that has JAX with CUDA but no package registry, run from the
# repository root. Each suite writes OUT/SUITE.json the moment it finishes, so a run cut short
# keeps what it measured; tabulate them afterwards, on any machine:
#
#   rsvp bench --device gpu --from OUT --only solver,horizons,fit,tiles,sweep \
#              --out out/bench-gpu --readme benchmarks/README.md
#
# Pure-Python dependencies the machine lacks travel as wheels in .whl/ (see benchmarks/README.md).
# The llm suite is not in the default list: its weights file (93 MB) is larger than what such a
# machine can be sent, and its PyTorch baseline runs on the CPU.
set -u
OUT=${OUT:-out/bench-gpu-suites}
SUITES=${SUITES:-solver horizons fit tiles sweep}   # most wanted first
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 2
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export JAX_PLATFORMS=${JAX_PLATFORMS:-cuda} PYTHONUNBUFFERED=1
declare -A MODULE=([solver]=rsvp_jax.bench.solver [tiles]=rsvp_jax.bench.tiles [sweep]=rsvp_jax.bench.sweep
                   [fit]=rsvp_jax.bench.fit [horizons]=rsvp_jax.bench.horizons [llm]=llm_bridge.bench)
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,temperature.gpu --format=csv 2>/dev/null
    python3 - <<'EOF'
import sys, jax, jax.numpy as jnp
import rsvp_jax as rj
print("python", sys.version.split()[0], "jax", jax.__version__, jax.devices())
lat = rj.Lattice((16, 16))
x = rj.simulate(rj.preset("rsvp"), lat, rj.initial_state(lat, "blobs", seed=0), dt=0.01, steps=4).final
print("smoke: 16x16 rsvp, 4 steps on", jax.default_backend(), "finite:", bool(jnp.isfinite(x.phi).all()))
EOF
    for s in $SUITES; do
        start=$(date +%s)
        echo "== $s (${MODULE[$s]} --quick)"
        timeout "${SUITE_TIMEOUT:-300}" python3 -m "${MODULE[$s]}" --quick --out "$OUT/$s.json"
        echo "== $s: exit $?, $(( $(date +%s) - start )) s"
    done
} 2>&1 | tee "$OUT/log.txt"
