#!/usr/bin/env bats
# Commits carry the user's name (../shared/DESIGN.md): the host's git
# identity (system, global, XDG config, and the workspace repository's own)
# is read with libgit2 and given to git in the sandbox as configuration
# (GIT_CONFIG_COUNT/KEY/VALUE); read again only when those files change.

bats_require_minimum_version 1.5.0
load helpers
load registry
load image_helpers

setup() {
  nsbox_setup
  image_paths
  WS=$(mk_workspace proj)
}

teardown() {
  nsbox_teardown
}

gitconfig() { # NAME EMAIL: the user's ~/.gitconfig on the host
  as_user sh -c 'printf "[user]\n\tname = %s\n\temail = %s\n" "$2" "$3" >"$1"' sh \
    "$TEST_HOME/.gitconfig" "$1" "$2"
}

@test "a commit made inside carries the user's git name and email from the host" {
  command -v git >/dev/null || skip "git is not installed on this host"
  gitconfig "Ada Lovelace" ada@example.org
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c \
    'git init -q repo && cd repo && echo x >f && git add f && git commit -qm first && git log --format="%an <%ae>|%cn"'
  assert_status 0
  assert_equal "$output" "Ada Lovelace <ada@example.org>|Ada Lovelace"
}

@test "the workspace repository's own identity wins over the global one" {
  command -v git >/dev/null || skip "git is not installed on this host"
  gitconfig "Global Name" global@example.org
  as_user git init -q "$WS"
  as_user git -C "$WS" config user.name "Repo Name"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'git config user.name; git config user.email'
  assert_status 0
  assert_equal "$output" "Repo Name"$'\n'"global@example.org"
}

@test "without a git identity on the host none is set inside, and nothing complains" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'echo "${GIT_CONFIG_COUNT-none}"'
  assert_status 0
  assert_equal "$output" none
  assert_equal "$stderr" ""
}

@test "a changed ~/.gitconfig is read again; an unchanged one needs no libgit2" {
  gitconfig "First Name" first@example.org
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'echo "$GIT_CONFIG_VALUE_0"'
  assert_equal "$output" "First Name"
  # Unchanged: the record answers, the plugin is not loaded.
  run --separate-stderr as_user env NSBOX_GIT_LIB=/nonexistent/nsbox-git.so "$NSBOX" run -w "$WS" shell -- \
    -c 'echo "$GIT_CONFIG_VALUE_0"'
  assert_status 0
  assert_equal "$output" "First Name"
  assert_equal "$stderr" ""
  sleep 0.01
  gitconfig "Second Name" second@example.org
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'echo "$GIT_CONFIG_VALUE_0"'
  assert_equal "$output" "Second Name"
}

@test "on an image template the identity is given to git too" {
  gitconfig "Ada Lovelace" ada@example.org
  run --separate-stderr nsbox_user load -i "$(fixtures_dir)/oci"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest shell -- -c \
    'echo "$GIT_CONFIG_COUNT|$GIT_CONFIG_KEY_0=$GIT_CONFIG_VALUE_0|$GIT_CONFIG_KEY_1=$GIT_CONFIG_VALUE_1"'
  assert_status 0
  assert_equal "$output" "2|user.name=Ada Lovelace|user.email=ada@example.org"
}

@test "without nsbox-git.so the run still works, says so once, and tries again only when the config changes" {
  gitconfig "Ada Lovelace" ada@example.org
  run --separate-stderr as_user env NSBOX_GIT_LIB=/nonexistent/nsbox-git.so "$NSBOX" run -w "$WS" shell -- \
    -c 'echo "${GIT_CONFIG_COUNT-none}"'
  assert_status 0
  assert_equal "$output" none
  [[ $stderr == *"warning: the git identity is not set in the sandbox"* ]] || { _show_run; false; }
  run --separate-stderr as_user env NSBOX_GIT_LIB=/nonexistent/nsbox-git.so "$NSBOX" run -w "$WS" shell -- -c true
  assert_status 0
  assert_equal "$stderr" ""
  sleep 0.01
  gitconfig "Ada Lovelace" ada@example.org
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'echo "$GIT_CONFIG_VALUE_0"'
  assert_equal "$output" "Ada Lovelace"
}
