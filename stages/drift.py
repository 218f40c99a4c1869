"""Stage drift (STUB): replaced by the real implementation."""
import json, pathlib, sys
args = sys.argv
out = pathlib.Path(args[args.index("--out") + 1]); out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"has_batch": False, "drift_score": 0.0}))
plots = pathlib.Path(args[args.index("--plots") + 1]); plots.mkdir(parents=True, exist_ok=True)
