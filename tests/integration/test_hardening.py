"""Hardening (README "Limits"): hostile input, faults and load never crash a node, spin it,
bloat its log or memory, or cut it off the herd. One class per attack; each test failed
against the node before the fix it checks.

Run: HERDD=build/server/herdd PLACES_STANDIN=build/tests/standin/places-standin \
     /usr/bin/python3 tests/integration/test_hardening.py -v
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HerdTestCase, iamat, read_whatsat_reply  # noqa: E402

# Valid per SPEC section 3: any number of leading zeros.
ZEROS = b"0" * 70
LONG_LOCATION = b"+" + ZEROS + b"34.5-" + ZEROS + b"118.25"


class TestCoordinatesOfAnyLength(HerdTestCase):
    """A valid location of any length reaches Places as the number it means."""

    def ask(self, api):
        standin = self.start_standin(key_required="herd-test-key")
        node = self.start_node("Alford", herd_options=standin.herd_options(api, 3))
        with node.client(timeout=15) as c:
            at = c.request(iamat(b"zeros", LONG_LOCATION))
            self.assertAtLine(at, client_id=b"zeros", location=LONG_LOCATION)
            c.send(b"WHATSAT zeros 10 5\n")
            doc = self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 5)
        self.assertEqual(doc["status"], "OK", doc)
        last = standin.stats()["last"]
        self.assertIsNotNone(last, "the node asked Places nothing")
        self.assertEqual(last["location"], {"lat": 34.5, "lng": -118.25})
        return last

    def test_legacy_query_has_the_normalised_location(self):
        last = self.ask("legacy")
        self.assertIn("location=34.5,-118.25&", last["query"])

    def test_new_api_body_has_the_normalised_location(self):
        self.ask("new")


if __name__ == "__main__":
    herdtest.main()
