"""`ct.py serve`: the production model over the Open Inference Protocol V2, feeding CT.

Modules, one job each: `protocol` (V2 requests and responses as plain data), `scoring` (a loaded
model and one call per micro-batch), `compiled` (a compiled runtime for
the forests this project trains), `runtime` (the running server's state, reloaded in place), `batcher` (concurrent requests combined into that call),
`shadow` (the shadow scored after each reply, in a process of its own),
`capture` (served rows into data/incoming),
`feedback` (ground truth for served rows into data/labels), `metrics` (Prometheus), `app` (the
ASGI routes) and `server` (uvicorn, reload, shutdown). protocol and scoring import no web
framework: the gates stage times candidates through them.
"""
