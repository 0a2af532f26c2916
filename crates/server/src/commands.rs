//! The administrator's commands, `missive user …` and `missive session …`: accounts managed
//! without SQL, through the same use cases as the API (so caches are retired and, with Redis,
//! every instance's live streams hear of it at once).

use std::io::BufRead;

use clap::{Args, Subcommand};
use missive_store::{Account, Session, SessionId, Timestamp, User, UserId};
use serde_json::{Value, json};

use crate::config::Config;
use crate::core::domain::Password;
use crate::core::input::Invalid;
use crate::core::{Core, CoreError, FindError, NewAccount};

/// `missive user …`
#[derive(Subcommand, Clone)]
pub enum UserCommand {
    /// Create an account (prints a generated password when none is given).
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        full_name: Option<String>,
        #[command(flatten)]
        password: PasswordSource,
        #[arg(long)]
        json: bool,
    },
    /// List every account.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one account.
    Show {
        /// A user: `id:N`, a username, or a number (an id, or a username if no id matches;
        /// refused when it is both).
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: it cannot log in, and its sessions end at once.
    Disable { user: String },
    /// Enable a disabled account again.
    Enable { user: String },
    /// Delete an account, as `DELETE /v1/users/me` does (see the README).
    Delete {
        user: String,
        /// Confirms the deletion, which cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Set a new password (prints a generated one when none is given); ends every session.
    ResetPassword {
        user: String,
        #[command(flatten)]
        password: PasswordSource,
    },
}

/// `missive session …`
#[derive(Subcommand, Clone)]
pub enum SessionCommand {
    /// List a user's open sessions.
    List {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// End one of a user's sessions, or all of them.
    Revoke {
        user: String,
        /// The session's id (from `session list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        session: Option<i64>,
        #[arg(long)]
        all: bool,
    },
}

/// Where a new password comes from: the command line (visible to other local users in the
/// process list), standard input, or neither (a generated one, printed once).
#[derive(Args, Clone)]
pub struct PasswordSource {
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordSource {
    /// The password, and whether it was generated (so it must be shown).
    fn read(self) -> Result<(Password, bool), String> {
        let (raw, generated) = match (self.password, self.password_stdin) {
            (Some(password), _) => (password, false),
            (None, true) => {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|err| format!("reading the password from standard input: {err}"))?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            }
            (None, false) => (generated_password(), true),
        };
        let password = Password::parse(&raw).map_err(|_| {
            "the password must be 8 to 128 characters, without control characters".to_owned()
        })?;
        Ok((password, generated))
    }
}

/// 20 characters from a 56-letter alphabet without look-alikes: about 116 bits.
fn generated_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    use rand::Rng;
    let mut rng = rand::rng();
    (0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Runs a `user` command against the configured database (and Redis, if set).
pub async fn user(config: Config, command: UserCommand) -> Result<(), String> {
    let core = connect(config).await?;
    match command {
        UserCommand::Create {
            username,
            email,
            full_name,
            password,
            json,
        } => {
            let (password, generated) = password.read()?;
            let account = NewAccount::parse(Some(&username), &email, password.expose(), full_name)
                .map_err(describe)?;
            let user = core.register(account).await.map_err(explain)?;
            let account = core.account(user.id).await.map_err(explain)?;
            if json {
                let mut out = account_json(&account);
                if generated {
                    out["password"] = json!(password.expose());
                }
                println!("{out}");
            } else {
                println!("created user {} ({})", user.username, user.id);
                if generated {
                    println!("password: {}", password.expose());
                }
            }
        }
        UserCommand::List { json } => {
            let mut accounts = Vec::new();
            let mut after = UserId(0);
            loop {
                let page = core.accounts(after, 500).await.map_err(explain)?;
                let Some(last) = page.last() else { break };
                after = last.user.id;
                accounts.extend(page);
            }
            if json {
                let list: Vec<Value> = accounts.iter().map(account_json).collect();
                println!("{}", Value::Array(list));
            } else {
                print_table(
                    &[
                        "ID",
                        "USERNAME",
                        "EMAIL",
                        "STATUS",
                        "CREATED",
                        "LAST ACTIVE",
                    ],
                    accounts.iter().map(account_row).collect(),
                );
            }
        }
        UserCommand::Show { user, json } => {
            let account = core.find_account(&user).await.map_err(no_user(&user))?;
            if json {
                println!("{}", account_json(&account));
            } else {
                let row = account_row(&account);
                let labels = [
                    "id",
                    "username",
                    "email",
                    "status",
                    "created",
                    "last active",
                ];
                let name = account.user.full_name.clone().unwrap_or_else(|| "-".into());
                for (label, value) in labels
                    .iter()
                    .chain(&["full name"])
                    .zip(row.iter().chain([&name]))
                {
                    println!("{label:<12} {}", value.escape_debug());
                }
            }
        }
        UserCommand::Disable { user } => {
            let account = core.find_account(&user).await.map_err(no_user(&user))?;
            let id = account.user.id;
            core.set_disabled(id, true).await.map_err(explain)?;
            println!(
                "disabled user {} ({id}); its sessions have ended",
                account.user.username
            );
        }
        UserCommand::Enable { user } => {
            let account = core.find_account(&user).await.map_err(no_user(&user))?;
            let id = account.user.id;
            core.set_disabled(id, false).await.map_err(explain)?;
            println!("enabled user {} ({id})", account.user.username);
        }
        UserCommand::Delete { user, yes } => {
            let account = core.find_account(&user).await.map_err(no_user(&user))?;
            let (id, name) = (account.user.id, &account.user.username);
            if !yes {
                return Err(format!(
                    "this deletes user {name} ({id}) for good; run again with --yes to confirm"
                ));
            }
            core.delete_user(id).await.map_err(explain)?;
            println!("deleted user {name} ({id})");
        }
        UserCommand::ResetPassword { user, password } => {
            let account = core.find_account(&user).await.map_err(no_user(&user))?;
            let (password, generated) = password.read()?;
            let id = account.user.id;
            core.reset_password(id, password.clone())
                .await
                .map_err(explain)?;
            println!(
                "new password set for user {} ({id}); its sessions have ended",
                account.user.username
            );
            if generated {
                println!("password: {}", password.expose());
            }
        }
    }
    Ok(())
}

/// Runs a `session` command.
pub async fn session(config: Config, command: SessionCommand) -> Result<(), String> {
    let core = connect(config).await?;
    match command {
        SessionCommand::List { user, json } => {
            let account = core.find_account(&user).await.map_err(no_user(&user))?;
            let sessions = core.open_sessions(account.user.id).await.map_err(explain)?;
            if json {
                let list: Vec<Value> = sessions.iter().map(session_json).collect();
                println!("{}", Value::Array(list));
            } else {
                print_table(
                    &["ID", "CREATED", "LAST USED", "EXPIRES", "USER AGENT"],
                    sessions.iter().map(session_row).collect(),
                );
            }
        }
        SessionCommand::Revoke { user, session, all } => {
            let account = core.find_account(&user).await.map_err(no_user(&user))?;
            let (id, name) = (account.user.id, &account.user.username);
            match session {
                Some(session) if !all => {
                    core.end_session(SessionId(session), id)
                        .await
                        .map_err(|err| match err {
                            CoreError::NotFound => {
                                format!("user {name} has no open session {session}")
                            }
                            other => explain(other),
                        })?;
                    println!("ended session {session} of user {name} ({id})");
                }
                _ => {
                    core.end_all_sessions(id).await.map_err(explain)?;
                    println!("ended every session of user {name} ({id})");
                }
            }
        }
    }
    Ok(())
}

/// The use cases over the configured database, with the cache and doorbell the server uses
/// (Redis, when set, so every instance hears of the change). A SQLite database must exist
/// already: run from the wrong directory, a command would otherwise create an empty one and
/// report success on an account no server ever reads. Pending migrations are applied, as a
/// starting instance would.
async fn connect(config: Config) -> Result<Core, String> {
    if let Some(refusal) = crate::no_database(&config) {
        return Err(refusal);
    }
    if let Some(url) = &config.redis_url {
        redis_answers(url.expose(), &config.redis_prefix).await?;
    }
    let app = crate::build(config).await.map_err(|err| err.to_string())?;
    Ok(app.core().clone())
}

/// Refuses to go on while Redis is away: the other instances would not hear of the change
/// (their caches would keep accepting a disabled account's tokens for a while).
async fn redis_answers(url: &str, prefix: &str) -> Result<(), String> {
    let unreachable = |err: String| {
        format!(
            "Redis (REDIS_URL) does not answer ({err}): the instances would not hear of this \
             change; try again once it is back"
        )
    };
    let redis = crate::redis_conn::Redis::connect(url, prefix).map_err(unreachable)?;
    let mut connection = redis.connection.clone();
    let command = redis::cmd("PING");
    let ping = command.query_async::<String>(&mut connection);
    crate::redis_conn::within_budget(ping)
        .await
        .map(drop)
        .map_err(|err| unreachable(err.to_string()))
}

fn no_user(name: &str) -> impl FnOnce(FindError) -> String + '_ {
    move |err| match err {
        FindError::NoSuchUser => format!("no user {name:?} (give a username, or id:N)"),
        FindError::Ambiguous => format!(
            "{name:?} is both a user id and another user's username: say id:{name} for the \
             id, or use the other account's id"
        ),
        FindError::Failed(err) => explain(err),
    }
}

/// One line for a use case's refusal.
fn explain(err: CoreError) -> String {
    match err {
        CoreError::Invalid(invalid) => describe(invalid),
        CoreError::Taken(kind) => format!("{} already taken", format!("{kind:?}").to_lowercase()),
        CoreError::NotFound => "not found".to_owned(),
        CoreError::Unavailable => "the database is unavailable; try again".to_owned(),
        other => other.to_string(),
    }
}

/// Every bad field, on one line: `--email: value is not a valid email address; …`.
fn describe(Invalid(errors): Invalid) -> String {
    let fields: Vec<String> = errors
        .iter()
        .map(|err| {
            let field = err.field.as_deref().unwrap_or("input").replace('_', "-");
            format!("--{field}: {}", err.message())
        })
        .collect();
    fields.join("; ")
}

fn status(account: &Account) -> &'static str {
    if account.disabled_at.is_some() {
        "disabled"
    } else {
        "active"
    }
}

fn time(at: Timestamp) -> String {
    at.to_datetime().format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn account_row(account: &Account) -> Vec<String> {
    let User {
        id,
        username,
        email,
        created_at,
        last_active_at,
        ..
    } = &account.user;
    vec![
        id.0.to_string(),
        username.clone(),
        email.clone(),
        status(account).to_owned(),
        time(*created_at),
        time(*last_active_at),
    ]
}

fn account_json(account: &Account) -> Value {
    let user = &account.user;
    json!({
        "id": user.id.0,
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "status": status(account),
        "created_at": user.created_at.to_datetime(),
        "last_active_at": user.last_active_at.to_datetime(),
        "disabled_at": account.disabled_at.map(Timestamp::to_datetime),
    })
}

fn session_row(session: &Session) -> Vec<String> {
    vec![
        session.id.0.to_string(),
        time(session.created_at),
        time(session.last_used_at),
        time(session.expires_at),
        session.user_agent.clone().unwrap_or_else(|| "-".into()),
    ]
}

fn session_json(session: &Session) -> Value {
    json!({
        "id": session.id.0,
        "created_at": session.created_at.to_datetime(),
        "last_used_at": session.last_used_at.to_datetime(),
        "expires_at": session.expires_at.to_datetime(),
        "user_agent": session.user_agent,
    })
}

/// Columns padded to their widest cell; control characters in cells (a hostile user agent)
/// are shown escaped, so nothing a user chose can rewrite the administrator's terminal.
fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|cell| cell.escape_debug().to_string())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}
