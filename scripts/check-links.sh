#!/usr/bin/env bash
# Checks that every relative link in the repository's Markdown files points
# at a file or folder that exists, and that a `#fragment` into a Markdown
# file names one of its headings (GitHub's anchor rule). Web links are not
# fetched. `make lint` runs it; it prints each broken link and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# GitHub's anchor for a heading: lower case, punctuation other than `-` and
# `_` dropped, spaces to `-`.
anchors() {
  sed -n 's/^#\{1,6\} \(.*\)$/\1/p' "$1" |
    tr '[:upper:]' '[:lower:]' |
    sed 's/[^a-z0-9 _-]//g; s/ /-/g'
}

broken=0
while IFS= read -r file; do
  dir=$(dirname "$file")
  # Inline links `[text](target)`, outside fenced code blocks.
  while IFS= read -r target; do
    case "$target" in
      http://* | https://* | mailto:*) continue ;;
    esac
    path=${target%%#*}
    fragment=
    [ "$path" != "$target" ] && fragment=${target#*#}
    resolved=$file
    if [ -n "$path" ]; then
      resolved=$dir/$path
      if [ ! -e "$resolved" ]; then
        echo "$file: broken link to $target (no $resolved)"
        broken=1
        continue
      fi
    fi
    if [ -n "$fragment" ] && [ -f "$resolved" ] && [[ "$resolved" == *.md ]]; then
      if ! anchors "$resolved" | grep -qxF -- "$fragment"; then
        echo "$file: broken link to $target (no heading #$fragment in $resolved)"
        broken=1
      fi
    fi
  done < <(awk '/^[ \t]*```/ { code = !code; next } !code' "$file" |
    grep -o '\](\([^)]*\))' | sed 's/^](\(.*\))$/\1/; s/ .*$//')
done < <(git ls-files '*.md' 2>/dev/null ||
  find . -name '*.md' -not -path './.git/*' -not -path './target/*' | sed 's|^\./||')

if [ "$broken" -ne 0 ]; then
  echo "check-links: broken links found" >&2
  exit 1
fi
