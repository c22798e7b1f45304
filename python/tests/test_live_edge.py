"""Tests of the Python wrapper against the live test edge (ctest
PythonWrapperTest runs them under src/sdk/tests/with_test_edge.sh, which
starts sdk_test_edge and exports ASTIS_* and ASTIS_TEST_EDGE_INFO)."""

import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import astis  # noqa: E402

INFO = os.environ.get("ASTIS_TEST_EDGE_INFO")


@unittest.skipUnless(INFO, "no live edge: run through ctest or src/sdk/tests/with_test_edge.sh")
class LiveEdgeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(INFO) as f:
            cls.info = json.load(f)

    def test_get_returns_plaintext(self):
        with astis.Client() as client:
            value = client.get("db-password")
            self.assertEqual(bytes(value), self.info["plaintexts"]["db-password"].encode())
            astis.wipe(value)
            self.assertEqual(value, bytearray(len(value)))

    def test_get_many_in_order(self):
        names = ["greeting", "api-token", "db-password"]
        with astis.Client() as client:
            values = client.get_many(names)
        self.assertEqual([bytes(v).decode() for v in values], [self.info["plaintexts"][n] for n in names])

    def test_refused_capsule_carries_wire_code(self):
        with astis.Client() as client:
            with self.assertRaises(astis.AstisError) as cm:
                client.get(self.info["refused"][0])
        self.assertEqual(cm.exception.name, "capsule_scope")
        self.assertNotIn(self.info["plaintexts"]["db-password"], str(cm.exception))

    def test_get_many_is_all_or_nothing(self):
        with astis.Client() as client:
            with self.assertRaises(astis.AstisError) as cm:
                client.get_many(["db-password", "no-such-secret"])
        self.assertEqual(cm.exception.name, "not_found")
        self.assertIn("no-such-secret", cm.exception.message)

    def test_unreachable_edge_is_unavailable(self):
        with astis.Client(edge_url="https://127.0.0.1:1") as client:
            with self.assertRaises(astis.AstisError) as cm:
                client.get("db-password")
        self.assertEqual(cm.exception.name, "unavailable")

    def test_get_after_close_refused(self):
        client = astis.Client()
        client.close()
        client.close()
        with self.assertRaises(astis.AstisError) as cm:
            client.get("db-password")
        self.assertEqual(cm.exception.name, "invalid_argument")

    def test_concurrent_gets(self):
        errors = []
        want = self.info["plaintexts"]["api-token"].encode()
        with astis.Client() as client:
            def worker():
                for _ in range(4):
                    try:
                        if bytes(client.get("api-token")) != want:
                            errors.append("wrong plaintext")
                    except astis.AstisError as e:  # noqa: PERF203
                        errors.append(str(e))
            threads = [threading.Thread(target=worker) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
