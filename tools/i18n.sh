#!/bin/sh
# The Chinese message catalog, with Babel (pip install babel):
#   tools/i18n.sh          extract every _()/N_()/ngettext() message of cnncalc/ and merge it into
#                          cnncalc/locale/zh/LC_MESSAGES/cnncalc.po (new messages get an empty msgstr)
#   (translate the empty entries of the .po)
#   tools/i18n.sh compile  compile the .po to the .mo that cnncalc reads at run time (shipped)
# tests/test_i18n.py fails when a message lacks its translation or the .mo is older than the .po.
set -e
cd "$(dirname "$0")/.."
PYBABEL="${PYBABEL:-pybabel}"
LOCALE=cnncalc/locale
if [ "$1" = compile ]; then
    exec "$PYBABEL" compile -d "$LOCALE" -D cnncalc -l zh --statistics
fi
POT="$(mktemp -t cnncalc.XXXXXX.pot)"
trap 'rm -f "$POT"' EXIT
"$PYBABEL" extract -F tools/babel.cfg -k N_ --no-location --sort-by-file --project cnncalc \
    --msgid-bugs-address "" --copyright-holder "cnncalc" -o "$POT" cnncalc
if [ -f "$LOCALE/zh/LC_MESSAGES/cnncalc.po" ]; then
    "$PYBABEL" update -i "$POT" -d "$LOCALE" -D cnncalc -l zh --no-fuzzy-matching --ignore-obsolete --init-missing
else
    "$PYBABEL" init -i "$POT" -d "$LOCALE" -D cnncalc -l zh
fi
