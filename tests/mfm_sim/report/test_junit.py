"""The one JUnit writer: suites of cases as data, one XML serializer."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mfm_sim.report.junit import Case, Suite, to_xml


def test_junit_writer() -> None:
    corpus = Suite(
        "corpus",
        (
            Case("corpus", "a.json", 0.5),
            Case("corpus", "a.json[v]", skipped="variant v is not available"),
        ),
    )
    sweep = Suite(
        "sweep",
        (Case("sweep.linear", "seed-7", failure="liveness: stuck", detail="details"),),
        properties=(("seeds", "0..9"),),
    )
    harness = Suite("harness", (Case("harness", "error", error="harness error", detail="boom"),))
    assert sweep.cases[0].failed and harness.cases[0].failed and not corpus.cases[0].failed
    root = ET.fromstring(to_xml([corpus, sweep, harness], name="gate"))
    assert root.get("name") == "gate"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "4",
        "1",
        "1",
        "1",
    )
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["sweep"].get("failures") == "1"
    assert suites["corpus"].get("skipped") == "1"
    assert suites["corpus"].get("time") == "0.500"  # the sum of its cases
    assert suites["harness"].get("errors") == "1"
    prop = suites["sweep"].find("properties/property")
    assert prop is not None and (prop.get("name"), prop.get("value")) == ("seeds", "0..9")
    case = next(c for c in root.iter("testcase") if c.get("name") == "seed-7")
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "liveness: stuck"
    assert failure.text == "details"
    error = next(c for c in root.iter("testcase") if c.get("name") == "error").find("error")
    assert error is not None and error.text == "boom"
