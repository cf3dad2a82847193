"""Writes this machine class's entry of gan_zoo/settings/recipes/speed.json: what
`--jit_compile=auto` and `--mixed_precision=auto` choose per model on this class of machine.

    GAN_ZOO_BENCH_DATA=DIR python tools/speed_table.py [--models=maxout_cgan,mlp_cgan] [--rounds=2]

Times the float32 trainer with and without XLA and in bfloat16 (bench/throughput.py's sides
trainer_keras_adam, trainer_xla, trainer_bf16, trainer_xla_bf16, as its report prints them)
and keeps, per model, the fastest by median where it beats the float32 trainer by AUTO_MARGIN,
and a bfloat16 side only where it also beats the fastest float32 one by as much. The table's
`bfloat16_quality` (short runs in both precisions, which auto also requires), the models not
in this run and the other machine classes are kept.
"""
import datetime
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
import measure  # noqa: E402
import throughput  # noqa: E402

# the sides auto chooses between: (--jit_compile, --mixed_precision) of each
AUTO_SIDES = {"trainer_keras_adam": (False, "off"), "trainer_xla": (True, "off"),
              "trainer_bf16": (False, "bfloat16"), "trainer_xla_bf16": (True, "bfloat16")}
AUTO_MARGIN = 1.05  # a side must beat the plain float32 trainer by 5% (the rounds' spread)


def choose(results):
    """{model: {jit_compile, mixed_precision, speedup}} from bench/throughput.py's results."""
    chosen = {}
    for model, by_side in results.items():
        med = {s: statistics.median(r["images_per_sec"] for r in by_side[s])
               for s in AUTO_SIDES if by_side.get(s)}
        if "trainer_keras_adam" not in med:
            continue
        best = max(med, key=med.get)
        full = max((s for s in med if AUTO_SIDES[s][1] == "off"), key=med.get)
        if AUTO_SIDES[best][1] != "off" and med[best] < AUTO_MARGIN * med[full]:
            best = full  # bfloat16 must beat float32's best by the margin too, or float32 stays
        if med[best] < AUTO_MARGIN * med["trainer_keras_adam"]:
            best = "trainer_keras_adam"
        jit, precision = AUTO_SIDES[best]
        chosen[model] = {"jit_compile": jit, "mixed_precision": precision,
                         "speedup": round(med[best] / med["trainer_keras_adam"], 2)}
    return chosen


def write(path, chosen, command):
    from gan_zoo.settings import speed_defaults
    table = json.load(open(path)) if os.path.exists(path) else {"classes": {}}
    entry = table["classes"].setdefault(speed_defaults.machine_class(), {"models": {}})
    today = datetime.date.today()
    entry.update({"measured": f"{today}, {os.cpu_count()} cores, ISA {' '.join(measure.isa_flags())}",
                  "command": command})
    for model in chosen:  # a run of some models leaves the others' choices as they were
        chosen[model]["measured_by"] = f"{command} ({today})"
    entry["models"].update(chosen)
    with open(path, "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"\n{path}: {speed_defaults.machine_class()} -> {json.dumps(chosen)}")


def main():
    """bench/throughput.py's options (but --sides and --mode), and --out=PATH to write
    another file than the shipped table (a trial run)."""
    from gan_zoo.settings import speed_defaults
    out = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--out=")), speed_defaults.SPEED_TABLE)
    argv = [a for a in sys.argv[1:] if not a.startswith(("--sides=", "--mode=", "--out="))]
    args = throughput.parse_args([*argv, "--sides=" + ",".join(AUTO_SIDES)])
    roof = throughput.start(args)
    results = throughput.measure_all(args.models.split(","), args.sides.split(","), args)
    throughput.report(results, roof)
    write(out, choose(results), "python tools/speed_table.py " + " ".join(argv))


if __name__ == "__main__":
    main()
