#!/usr/bin/env python3
"""Tests of scripts/gpuserver.py with its python backend (stdlib only).

    python3 scripts/gpuserver_test.py
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "gpuserver.py")


def start(*args):
    """Starts the server on a free port; returns (process, port)."""
    p = subprocess.Popen([sys.executable, SERVER, "--backend", "python", "--port", "0"] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()  # the server prints it once it is listening
    m = re.fullmatch(r"ready port=(\d+) pid=(\d+)\n", line)
    if not m:
        p.kill()
        raise AssertionError("no ready line: %r; stderr: %s" % (line, p.stderr.read()))
    assert int(m.group(2)) == p.pid, (line, p.pid)
    return p, int(m.group(1))


class GPUServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start("--name", "light", "--hidden", "8", "--layers", "2", "--reserve-mib", "3")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(10)
        cls.proc.stdout.close()
        cls.proc.stderr.close()

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if body is not None and not isinstance(body, bytes):
                body = json.dumps(body).encode()
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read(), r.getheader("Content-Type")
        finally:
            c.close()

    def infer(self, body):
        return self.request("POST", "/v2/models/light/infer", body)

    def test_health_and_ready(self):
        for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/light/ready",
                     "/v2/models/light/versions/1/ready"):
            status, _, _ = self.request("GET", path)
            self.assertEqual(status, 200, path)
        status, body, _ = self.request("GET", "/v2/models/other/ready")
        self.assertEqual(status, 404)
        self.assertIn("error", json.loads(body))

    def test_metadata(self):
        status, body, _ = self.request("GET", "/v2/models/light")
        self.assertEqual(status, 200)
        md = json.loads(body)
        self.assertEqual(md["name"], "light")
        self.assertEqual(md["inputs"], [{"name": "features", "datatype": "FP32", "shape": [-1, 64]}])
        self.assertEqual(md["outputs"], [{"name": "y", "datatype": "FP32", "shape": [-1, 16]}])

    def test_infer_batch_2(self):
        rows = [[0.5] * 64, [float(i) / 64 for i in range(64)]]
        flat = rows[0] + rows[1]
        status, body, ctype = self.infer({"id": "r1", "inputs": [
            {"name": "features", "shape": [2, 64], "datatype": "FP32", "data": flat}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(ctype, "application/json")
        resp = json.loads(body)
        self.assertEqual(resp["model_name"], "light")
        self.assertEqual(resp["id"], "r1")
        [out] = resp["outputs"]
        self.assertEqual((out["name"], out["datatype"], out["shape"]), ("y", "FP32", [2, 16]))
        self.assertEqual(len(out["data"]), 32)
        # y[j] = sum(row) * (j+1) / layers, layers = 2
        for b, row in enumerate(rows):
            for j in range(16):
                self.assertAlmostEqual(out["data"][b * 16 + j], sum(row) * (j + 1) / 2)
        # Nested data and "parameters" are accepted too.
        status, body, _ = self.infer({"parameters": {}, "inputs": [
            {"name": "features", "shape": [2, 64], "datatype": "FP32", "data": rows, "parameters": {}}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["outputs"][0]["data"], out["data"])

    def test_keep_alive(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(3):
                c.request("POST", "/v2/models/light/infer", body=json.dumps({"inputs": [
                    {"name": "features", "shape": [1, 64], "datatype": "FP32", "data": [1.0] * 64}]}))
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                r.read()
        finally:
            c.close()

    def test_bad_requests(self):
        good = {"name": "features", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}
        cases = {
            "not json": b"{",
            "no inputs": {},
            "wrong name": {"inputs": [dict(good, name="x")]},
            "wrong datatype": {"inputs": [dict(good, datatype="FP64")]},
            "wrong shape": {"inputs": [dict(good, shape=[1, 63])]},
            "zero batch": {"inputs": [dict(good, shape=[0, 64], data=[])]},
            "short data": {"inputs": [dict(good, data=[0.0] * 63)]},
            "string data": {"inputs": [dict(good, data=["a"] * 64)]},
            "two inputs": {"inputs": [good, good]},
        }
        for what, body in cases.items():
            status, resp, _ = self.infer(body)
            self.assertEqual(status, 400, what)
            self.assertIsInstance(json.loads(resp)["error"], str, what)
        status, _, _ = self.request("POST", "/v2/models/other/infer", {"inputs": [good]})
        self.assertEqual(status, 404)

    def test_metrics(self):
        status, body, ctype = self.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        values = {}
        for line in body.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)', line)
            self.assertIsNotNone(m, line)
            values[m.group(1)] = float(m.group(3))
        # the python backend: its reserve plus 64 MiB
        self.assertEqual(values, {"gpu_memory_used_bytes": float((3 + 64) << 20)})

    def test_sigterm_exits_cleanly(self):
        p, _ = start("--name", "x")
        try:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(10), 0)
        finally:
            if p.poll() is None:
                p.kill()
            p.stdout.close()
            p.stderr.close()


if __name__ == "__main__":
    unittest.main()
