# The escape suite runs with the integration suite's set-up (test users,
# NSBOX): tests/security/*.bats load ../integration/helpers.
# shellcheck source=../integration/setup_suite.bash
source "${BASH_SOURCE[0]%/*}/../integration/setup_suite.bash"
