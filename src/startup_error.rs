//! Start-up failures told to a person: what is wrong and what to do about it, in one or two plain
//! sentences. The binary prints this instead of an error chain; a backtrace follows only when
//! `RUST_BACKTRACE` asks for one.

/// A failure before the service could serve, with the step that would fix it.
#[derive(Debug, thiserror::Error)]
#[error("{problem} {remedy}")]
pub struct StartupError {
    /// What is wrong, as a sentence.
    pub problem: String,
    /// What to do, as a sentence.
    pub remedy: String,
}

impl StartupError {
    pub fn new(problem: impl Into<String>, remedy: impl Into<String>) -> StartupError {
        StartupError {
            problem: problem.into(),
            remedy: remedy.into(),
        }
    }
}

/// The text printed when the program stops on `error`: the first `StartupError` in its chain,
/// or, for a failure nobody foresaw, one line with the whole chain.
pub fn explain(error: &anyhow::Error) -> String {
    match error.chain().find_map(|e| e.downcast_ref::<StartupError>()) {
        Some(startup) => startup.to_string(),
        None => format!("mynorfolk stopped: {error:#}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_sentence_survives_added_context() {
        let error = Err::<(), _>(StartupError::new("Port 8080 is in use.", "Set PORT."))
            .context("serving")
            .unwrap_err();
        assert_eq!(explain(&error), "Port 8080 is in use. Set PORT.");
    }

    #[test]
    fn an_unforeseen_error_is_one_line() {
        let error = anyhow::anyhow!("disk full").context("writing");
        assert_eq!(explain(&error), "mynorfolk stopped: writing: disk full.");
    }
}
