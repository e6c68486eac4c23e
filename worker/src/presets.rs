//! Ready-made command lines for real coding-agent CLIs (`AIPM_AGENT_PRESET`), each with TASK.md
//! as its brief, the variables it needs passed through, and its own limits where the CLI has
//! them. deploy/install.sh installs the CLI a preset names.

/// What the worker asks every agent to do; TASK.md holds the task itself.
pub const AGENT_PROMPT: &str = "Carry out the task described in TASK.md in this repository: \
change the code, run the project's tests, and stop when the task is done. Do not commit or push; \
AIPM does. If TASK.md asks for answers to review comments, write them where it says.";

/// One coding-agent CLI as the worker runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    /// The program the command runs (what install.sh installs).
    pub program: &'static str,
    /// Run with `sh -c` in the checkout. `$AIPM_AGENT_PROMPT` is [`AGENT_PROMPT`]; the limits
    /// have defaults the settings below override.
    pub command: &'static str,
    /// Variables the CLI cannot work without (its API key), passed through and required.
    pub required: &'static [&'static str],
    /// Variables passed through when they are set (model, limits).
    pub optional: &'static [&'static str],
    /// How install.sh installs it, for the README and the user data.
    pub install: &'static str,
}

/// Claude Code (npm `@anthropic-ai/claude-code`): print mode, no prompts (the agent's own
/// account and the unit's sandbox are the guard), at most `AIPM_AGENT_MAX_TURNS` turns and
/// `AIPM_AGENT_MAX_USD` dollars per run.
pub const CLAUDE_CODE: Preset = Preset {
    name: "claude-code",
    program: "claude",
    command: r#"claude -p "$AIPM_AGENT_PROMPT" --output-format text --dangerously-skip-permissions --max-turns "${AIPM_AGENT_MAX_TURNS:-80}" --max-budget-usd "${AIPM_AGENT_MAX_USD:-5}" ${AIPM_AGENT_MODEL:+--model "$AIPM_AGENT_MODEL"}"#,
    required: &["ANTHROPIC_API_KEY"],
    optional: &[
        "AIPM_AGENT_MODEL",
        "AIPM_AGENT_MAX_TURNS",
        "AIPM_AGENT_MAX_USD",
    ],
    install: "npm install --global @anthropic-ai/claude-code",
};

/// OpenAI Codex CLI (npm `@openai/codex`): `exec` mode, writes only in the checkout (its own
/// sandbox), keeps no session files. Codex has no turn or cost limit of its own: the worker's
/// `AIPM_AGENT_TIMEOUT_SECONDS` is the bound.
pub const CODEX: Preset = Preset {
    name: "codex",
    program: "codex",
    command: r#"codex exec --sandbox workspace-write --skip-git-repo-check --ephemeral --color never ${AIPM_AGENT_MODEL:+--model "$AIPM_AGENT_MODEL"} "$AIPM_AGENT_PROMPT""#,
    required: &["OPENAI_API_KEY"],
    optional: &["AIPM_AGENT_MODEL"],
    install: "npm install --global @openai/codex",
};

/// Aider (PyPI `aider-chat`): TASK.md as the message, every question answered yes, no commits
/// of its own (the worker commits), no update checks or analytics. Its model comes from
/// `AIPM_AGENT_MODEL` and its key from either provider's variable.
pub const AIDER: Preset = Preset {
    name: "aider",
    program: "aider",
    command: r#"aider --message-file TASK.md --yes-always --no-auto-commits --no-dirty-commits --no-gitignore --no-check-update --no-analytics --no-pretty --no-stream ${AIPM_AGENT_MODEL:+--model "$AIPM_AGENT_MODEL"}"#,
    required: &[],
    optional: &["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "AIPM_AGENT_MODEL"],
    install: "pipx install aider-chat",
};

pub const ALL: [Preset; 3] = [CLAUDE_CODE, CODEX, AIDER];

/// The preset called `name`, or an error naming the ones there are.
pub fn named(name: &str) -> Result<Preset, String> {
    ALL.iter()
        .copied()
        .find(|preset| preset.name == name.trim())
        .ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|preset| preset.name).collect();
            format!(
                "AIPM_AGENT_PRESET={name} is not a preset; there are {}",
                names.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_found_by_name_and_unknown_names_list_the_others() {
        assert_eq!(named("codex").unwrap().program, "codex");
        let error = named("copilot").unwrap_err();
        assert!(error.contains("claude-code, codex, aider"), "{error}");
        for preset in ALL {
            assert!(preset.command.starts_with(preset.program));
            assert!(
                preset.command.contains("AIPM_AGENT_PROMPT") || preset.command.contains("TASK.md"),
                "{} gets the brief",
                preset.name
            );
        }
    }
}
