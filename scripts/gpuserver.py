#!/usr/bin/env python3
"""A small KServe v2 REST server hosting one MLP, for scripts/gpu-check.sh.

One model per process, so that each model has its own PID for infergate's
--server-pid (NVML per-process accounting). Standard library only, plus
torch for the torch backend:

    python3 scripts/gpuserver.py --port 8000 --name light --hidden 1024 --layers 4
    python3 scripts/gpuserver.py --port 8001 --name heavy --hidden 4096 --layers 8 --reserve-mib 2048

The model takes input "features" FP32 [-1, 64] (the column of
examples/test_data.parquet) and answers output "y" FP32 [-1, 16].

Backends:
  torch   an MLP 64 -> H (ReLU) x L -> 16, fixed seed, float32, on --device
          (default cuda when available), run under torch.inference_mode()
          with torch.cuda.synchronize() before answering. --reserve-mib
          holds that much more device memory in one tensor.
  python  no torch needed (local tests): y[j] = sum(row) * (j+1) / L.
          --reserve-mib is held as a bytearray.

Endpoints: GET /v2, /v2/health/live, /v2/health/ready, /v2/models/NAME,
/v2/models/NAME/ready; POST /v2/models/NAME/infer (also under
/versions/1/); GET /metrics (Prometheus text: gpu_memory_used_bytes,
gpu_utilization_percent, gpu_sm_clock_mhz, the names infergate's
--server-metrics reads). gpu_memory_used_bytes is this process's own use
(torch.cuda.memory_reserved(), or for the python backend the reserve plus
64 MiB), not the whole device's.

Once serving it prints "ready port=P pid=PID" on stdout (--port 0 picks a
free port). SIGTERM and SIGINT stop it cleanly.
"""

import argparse
import ctypes
import json
import math
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IN_NAME, IN_DIM = "features", 64
OUT_NAME, OUT_DIM = "y", 16
MIB = 1 << 20
# What the python backend reports besides its reserve, standing in for a
# CUDA context and weights.
PYTHON_BASE_BYTES = 64 * MIB
MAX_BODY = 64 * MIB


class BadRequest(Exception):
    """The request is malformed: answered with 400."""


def log(msg):
    print("gpuserver: " + msg, file=sys.stderr, flush=True)


def flatten(data, out):
    """Appends the numbers of a (possibly nested) JSON list to out."""
    if isinstance(data, list):
        for v in data:
            flatten(v, out)
        return
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise BadRequest("data holds %r, not a number" % (data,))
    out.append(float(data))


def parse_infer(body, model_name):
    """Reads a v2 infer request; returns (batch, flat float list, id)."""
    try:
        req = json.loads(body)
    except ValueError as e:
        raise BadRequest("request is not JSON: %s" % e)
    if not isinstance(req, dict):
        raise BadRequest("request is not a JSON object")
    inputs = req.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise BadRequest("model %s takes exactly one input, %s" % (model_name, IN_NAME))
    t = inputs[0]
    if t.get("name") != IN_NAME:
        raise BadRequest("unknown input %r: model %s takes %s" % (t.get("name"), model_name, IN_NAME))
    if t.get("datatype") != "FP32":
        raise BadRequest("input %s: datatype %r, want FP32" % (IN_NAME, t.get("datatype")))
    shape = t.get("shape")
    if (not isinstance(shape, list) or len(shape) != 2
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
            or shape[0] < 1 or shape[1] != IN_DIM):
        raise BadRequest("input %s: shape %r, want [batch, %d]" % (IN_NAME, shape, IN_DIM))
    if "data" not in t:
        raise BadRequest("input %s has no data" % IN_NAME)
    flat = []
    flatten(t["data"], flat)
    if len(flat) != shape[0] * IN_DIM:
        raise BadRequest("input %s: shape %r holds %d values, data has %d"
                         % (IN_NAME, shape, shape[0] * IN_DIM, len(flat)))
    if not all(math.isfinite(v) for v in flat):
        raise BadRequest("input %s holds a value that is not finite" % IN_NAME)
    rid = req.get("id")
    return shape[0], flat, rid if isinstance(rid, str) else None


class PythonModel:
    """No torch: a cheap deterministic function of the input."""

    platform = "python"

    def __init__(self, args):
        self.layers = max(1, args.layers)
        # bytearray is zeroed by calloc: counted, if not necessarily touched.
        self.reserve = bytearray(args.reserve_mib * MIB)
        self.uuid = ""

    def infer(self, batch, flat):
        out = []
        for b in range(batch):
            s = math.fsum(flat[b * IN_DIM:(b + 1) * IN_DIM])
            out.extend(s * (j + 1) / self.layers for j in range(OUT_DIM))
        return out

    def memory_bytes(self):
        return len(self.reserve) + PYTHON_BASE_BYTES

    def utilisation_pct(self):
        return None

    def sm_clock_mhz(self):
        return None


class NVML:
    """Just enough NVML through ctypes for utilisation and the SM clock of
    one GPU; every failure means "unknown"."""

    class _Util(ctypes.Structure):
        _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]

    def __init__(self, uuid):
        self.lib = None
        self.handle = ctypes.c_void_p()
        try:
            lib = ctypes.CDLL("libnvidia-ml.so.1")
            if lib.nvmlInit_v2() != 0:
                return
            if lib.nvmlDeviceGetHandleByUUID(uuid.encode(), ctypes.byref(self.handle)) != 0:
                return
            self.lib = lib
        except (OSError, AttributeError):
            self.lib = None

    def utilisation_pct(self):
        if self.lib is None:
            return None
        u = NVML._Util()
        if self.lib.nvmlDeviceGetUtilizationRates(self.handle, ctypes.byref(u)) != 0:
            return None
        return float(u.gpu)

    def sm_clock_mhz(self):
        if self.lib is None:
            return None
        mhz = ctypes.c_uint()
        if self.lib.nvmlDeviceGetClockInfo(self.handle, 1, ctypes.byref(mhz)) != 0:  # NVML_CLOCK_SM
            return None
        return int(mhz.value)


class TorchModel:
    """An MLP 64 -> H (ReLU) x L -> 16 on --device."""

    platform = "pytorch"

    def __init__(self, args):
        import torch  # only this backend needs it
        self.torch = torch
        dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.device = torch.device(dev)
        self.cuda = self.device.type == "cuda"
        if self.cuda:
            if not torch.cuda.is_available():
                raise SystemExit("gpuserver: --device %s but torch sees no CUDA device" % dev)
            if self.device.index is None:
                self.device = torch.device("cuda", torch.cuda.current_device())
            torch.cuda.set_device(self.device)
        torch.manual_seed(args.seed)
        mods, d = [], IN_DIM
        for _ in range(args.layers):
            mods += [torch.nn.Linear(d, args.hidden), torch.nn.ReLU()]
            d = args.hidden
        mods.append(torch.nn.Linear(d, OUT_DIM))
        self.model = torch.nn.Sequential(*mods).to(self.device, torch.float32).eval()
        self.reserve = None
        if args.reserve_mib > 0:
            self.reserve = torch.zeros(args.reserve_mib * MIB, dtype=torch.uint8, device=self.device)
        self.uuid = ""
        self.nvml = None
        if self.cuda:
            try:
                self.uuid = "GPU-" + str(torch.cuda.get_device_properties(self.device).uuid)
            except Exception:  # older torch: no uuid
                self.uuid = ""
            if self.uuid:
                self.nvml = NVML(self.uuid)
        self.infer(1, [0.0] * IN_DIM)  # warm up: CUDA context, kernels
        log("torch %s on %s (%s), hidden %d x %d layers, %d parameters, reserve %d MiB"
            % (torch.__version__, self.device,
               torch.cuda.get_device_name(self.device) if self.cuda else "cpu",
               args.hidden, args.layers, sum(p.numel() for p in self.model.parameters()),
               args.reserve_mib))

    def infer(self, batch, flat):
        torch = self.torch
        with torch.inference_mode():
            x = torch.tensor(flat, dtype=torch.float32).view(batch, IN_DIM).to(self.device)
            y = self.model(x)
            if self.cuda:
                torch.cuda.synchronize(self.device)
            return y.to("cpu").reshape(-1).tolist()

    def memory_bytes(self):
        if not self.cuda:
            return None
        return int(self.torch.cuda.memory_reserved(self.device))

    def utilisation_pct(self):
        if not self.cuda:
            return None
        try:
            return float(self.torch.cuda.utilization(self.device))
        except Exception:  # needs pynvml; fall back to NVML by hand
            pass
        return self.nvml.utilisation_pct() if self.nvml else None

    def sm_clock_mhz(self):
        if not self.cuda:
            return None
        return self.nvml.sm_clock_mhz() if self.nvml else None


def metrics_text(model):
    label = '{gpu_uuid="%s"}' % model.uuid if model.uuid else ""
    lines = []

    def add(name, help_, value, fmt):
        if value is None:
            return
        lines.append("# HELP %s %s" % (name, help_))
        lines.append("# TYPE %s gauge" % name)
        lines.append(("%s%s " + fmt) % (name, label, value))

    add("gpu_memory_used_bytes", "GPU memory held by this server process, in bytes",
        model.memory_bytes(), "%d")
    add("gpu_utilization_percent", "GPU utilisation, percent", model.utilisation_pct(), "%g")
    add("gpu_sm_clock_mhz", "GPU SM clock, MHz", model.sm_clock_mhz(), "%d")
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: infergate reuses connections
    server_version = "gpuserver/1"

    def setup(self):
        super().setup()
        # Headers and body go out in one write, but be sure a small answer is
        # never held back by Nagle's algorithm.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet access log
        if self.server.verbose:
            log("%s %s" % (self.address_string(), fmt % args))

    def send(self, code, body, ctype="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body, separators=(",", ":")).encode()
        head = ("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
                % (code, self.responses.get(code, ("",))[0], ctype, len(body),
                   "Connection: close\r\n" if self.close_connection else "")).encode()
        self.log_request(code, len(body))
        self.wfile.write(head + body)

    def error(self, code, msg):
        self.send(code, {"error": msg})

    def model_path(self):
        """The rest of the path after /v2/models/NAME[/versions/V], or None
        when it names another model."""
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) < 3 or parts[:2] != ["v2", "models"] or parts[2] != self.server.name:
            return None
        rest = parts[3:]
        if len(rest) >= 2 and rest[0] == "versions":
            rest = rest[2:]
        return rest

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        s = self.server
        if path == "/v2":
            self.send(200, {"name": "gpuserver", "version": "1", "extensions": []})
        elif path in ("/v2/health/live", "/v2/health/ready"):
            self.send(200, b"")
        elif path == "/metrics":
            self.send(200, metrics_text(s.model).encode(), "text/plain; version=0.0.4")
        else:
            rest = self.model_path()
            if rest == []:
                self.send(200, {
                    "name": s.name, "versions": ["1"], "platform": s.model.platform,
                    "inputs": [{"name": IN_NAME, "datatype": "FP32", "shape": [-1, IN_DIM]}],
                    "outputs": [{"name": OUT_NAME, "datatype": "FP32", "shape": [-1, OUT_DIM]}],
                })
            elif rest == ["ready"]:
                self.send(200, b"")
            elif rest is None and path.startswith("/v2/models/"):
                self.error(404, "no model %r" % path[len("/v2/models/"):].split("/")[0])
            else:
                self.error(404, "no route " + path)

    def do_POST(self):
        try:
            n = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self.error(411, "Content-Length required")
            return
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            self.error(413, "body of %d bytes is too large" % n)
            return
        body = self.rfile.read(n)
        if self.model_path() != ["infer"]:
            self.error(404, "no route " + self.path)
            return
        s = self.server
        try:
            batch, flat, rid = parse_infer(body, s.name)
        except BadRequest as e:
            self.error(400, str(e))
            return
        try:
            with s.lock:
                y = s.model.infer(batch, flat)
        except Exception as e:  # the model failed: say so, keep serving
            self.error(500, "inference failed: %s" % e)
            return
        resp = {"model_name": s.name, "model_version": "1",
                "outputs": [{"name": OUT_NAME, "datatype": "FP32", "shape": [batch, OUT_DIM], "data": y}]}
        if rid is not None:
            resp["id"] = rid
        self.send(200, resp)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv=None):
    p = argparse.ArgumentParser(description="KServe v2 REST server of one MLP (see the module doc)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--name", default="model", help="model name in /v2/models/NAME")
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--device", default="", help="torch device: cuda, cuda:N or cpu (default cuda when available)")
    p.add_argument("--reserve-mib", type=int, default=0, help="hold this much more memory on the device")
    p.add_argument("--backend", choices=["torch", "python"], default="torch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = p.parse_args(argv)
    if args.hidden < 1 or args.layers < 1 or args.reserve_mib < 0:
        p.error("--hidden and --layers must be >= 1, --reserve-mib >= 0")
    if "/" in args.name or not args.name:
        p.error("--name must be a non-empty path segment")

    model = TorchModel(args) if args.backend == "torch" else PythonModel(args)
    srv = Server((args.host, args.port), Handler)
    srv.name, srv.model, srv.lock, srv.verbose = args.name, model, threading.Lock(), args.verbose

    def stop(signum, _frame):
        log("signal %d: stopping" % signum)
        # shutdown() waits for serve_forever, which runs in this thread.
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready port=%d pid=%d" % (srv.server_address[1], os.getpid()), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
