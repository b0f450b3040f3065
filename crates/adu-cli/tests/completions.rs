//! `adu completions SHELL` prints a script for each shell that names the commands.

mod common;

use common::adu;

#[test]
fn each_shell_gets_a_script_that_names_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = adu(&["completions", shell], &[]);
        assert_eq!(run.code, 0, "{shell}: {run:?}");
        assert!(run.stderr.is_empty(), "{shell}: {}", run.stderr);
        for word in [
            "operation",
            "show",
            "wait",
            "login",
            "demo",
            "emulator",
            "serve",
            "completions",
            // Fish names long options without their dashes (`-l exit-status`).
            "api-version",
            "exit-status",
        ] {
            assert!(run.stdout.contains(word), "{shell}: {word} missing");
        }
    }
    let bash = adu(&["completions", "bash"], &[]);
    assert!(bash.stdout.contains("complete -F _adu"), "{}", bash.stdout);
    let unknown = adu(&["completions", "tcsh"], &[]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("bash"), "{}", unknown.stderr);
}
