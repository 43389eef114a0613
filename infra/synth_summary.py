"""Print a short summary of a synthesized cloud assembly (used by `make synth`).

    python -m infra.synth_summary [cdk.out]

Resources by type for every stack, the cdk-nag (AwsSolutions) outcome read from
`validation-report.json` (a failing pack stops `cdk synth` before this runs), and
the acknowledged findings recorded in the stack metadata. Exit status 1 if any
AwsSolutions finding is unacknowledged.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ACK_METADATA = "aws:cdk:acknowledged-rules"
NAG_PLUGIN = "AwsSolutions"


def nag_findings(outdir: Path) -> list[tuple[str, str]]:
    report = outdir / "validation-report.json"
    if not report.exists():
        return []
    findings = []
    for plugin in json.loads(report.read_text()).get("pluginReports", []):
        if plugin.get("pluginName") != NAG_PLUGIN:
            continue
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", violation.get("violatingResources", [])):
                findings.append((violation.get("ruleName", "?"), construct.get("constructPath", "?")))
    return findings


def acknowledgments(outdir: Path, metadata_file: str | None) -> list[tuple[str, str]]:
    if not metadata_file or not (outdir / metadata_file).exists():
        return []
    acks = []
    for path, entries in json.loads((outdir / metadata_file).read_text()).items():
        for entry in entries:
            if entry.get("type") == ACK_METADATA:
                for rule_id in entry.get("data", {}):
                    acks.append((rule_id.split("::", 1)[-1], path))
    return sorted(acks)


def main(argv: list[str]) -> int:
    outdir = Path(argv[1] if len(argv) > 1 else "cdk.out")
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = {
        name: artifact
        for name, artifact in manifest.get("artifacts", {}).items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    for name, artifact in stacks.items():
        template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        counts = Counter(resource["Type"] for resource in template.get("Resources", {}).values())
        print(f"Stack {name} ({artifact.get('environment')}): {sum(counts.values())} resources")
        for resource_type, count in sorted(counts.items()):
            print(f"  {count:3d}  {resource_type}")
        outputs = ", ".join(template.get("Outputs", {}))
        print(f"  outputs: {outputs}")
        acks = acknowledgments(outdir, artifact.get("additionalMetadataFile"))
        print(f"  cdk-nag acknowledgments: {len(acks)}")
        for rule_id, path in acks:
            print(f"    {rule_id}  @ {path}")

    findings = nag_findings(outdir)
    print(f"cdk-nag: {len(findings)} unacknowledged findings")
    for rule, path in findings:
        print(f"  {rule}  @ {path}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
