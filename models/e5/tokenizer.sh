#!/usr/bin/env bash
# multilingual-e5-small's tokenizer.json (see convert.sh); run by `qorovul models fetch`.
exec bash "$(dirname "${BASH_SOURCE[0]}")/convert.sh" tokenizer
