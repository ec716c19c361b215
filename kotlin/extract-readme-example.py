"""Writes the README's "Use it from Kotlin" block to target/readme-example/ReadmeExample.kt, where
the test ReadmeExampleTest runs it. Called by pom.xml at generate-test-sources."""

import pathlib
import re
import sys

kotlin = pathlib.Path(__file__).resolve().parent
source = kotlin.parent / "README.md"
text = source.read_text(encoding="utf-8")
if "## Use it from Kotlin" not in text:
    sys.exit("no '## Use it from Kotlin' section in README.md")
code = re.search(r"```kotlin\n(.*?)```", text.split("## Use it from Kotlin", 1)[1], re.S).group(1)
dest = kotlin / "target" / "readme-example" / "ReadmeExample.kt"
dest.parent.mkdir(parents=True, exist_ok=True)
header = f"// Generated from {source.name} by extract-readme-example.py: do not edit.\n"
if not dest.exists() or dest.read_text(encoding="utf-8") != header + code:
    dest.write_text(header + code, encoding="utf-8")
