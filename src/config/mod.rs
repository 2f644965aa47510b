//! The desired-state file: YAML text -> raw types -> the valid [`Config`] -> the
//! decrypted [`Desired`] state.
//!
//! Every stage collects problems instead of stopping at the first, and every problem
//! carries a position in the file; see [`problem`] for how they are shown.

mod bounds;
mod early;
mod lift;
mod memo;
mod parse;
mod positions;
pub mod problem;
pub mod raw;
mod rewrite;
mod routing;
mod shape;
mod tree;
mod validate;
pub mod values;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hashbrown::{HashMap, HashSet as FastSet};

pub use memo::Memo;
pub use problem::{Position, Problem, Report};
pub use rewrite::replace_secrets;
pub use validate::slug;
pub use values::{BotToken, WebhookUrl};

use crate::routes::Routing;
use crate::secrets::{Keyring, Secret, SecretsError, decrypt, fingerprint};
use crate::state::{Applied, AppliedToken, AppliedWebhook, SealedSecret};

pub const DEFAULT_API_URL: &str = "https://slack.com/api";
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// A desired-state file that passed every check that needs no key.
#[derive(Clone)]
pub struct Config {
    /// The file's name as the user gave it, for messages.
    pub file: String,
    /// The file's text, for saved plans: it holds ciphertexts only.
    pub text: String,
    pub recipients: Vec<String>,
    pub slack: Slack,
    pub webhooks: Vec<Webhook>,
    /// `routes:` and `templates:`, checked.
    pub routing: Routing,
    /// The routes' `mentions:` entries, with their positions, for the directory check.
    pub route_mentions: Vec<Mention>,
    /// How many of the webhooks were taken from the [`Memo`] instead of read again.
    pub remembered: usize,
}

/// The text is left out: its comments are the user's, and may hold anything.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("file", &self.file)
            .field("digest", &self.digest())
            .field("text", &format_args!("({} bytes)", self.text.len()))
            .field("recipients", &self.recipients)
            .field("slack", &self.slack)
            .field("webhooks", &self.webhooks)
            .field("routing", &self.routing)
            .field("route_mentions", &self.route_mentions)
            .field("remembered", &self.remembered)
            .finish()
    }
}

impl Config {
    /// `sha256:<hex>` of the file's bytes, recorded with every apply.
    pub fn digest(&self) -> String {
        digest(&self.text)
    }

    /// Every secret of the file: the bot token, then the webhook URLs in file order.
    pub fn sealed(&self) -> impl Iterator<Item = &Sealed> {
        self.slack
            .bot_token
            .iter()
            .chain(self.webhooks.iter().map(|w| &w.url))
    }
}

#[derive(Debug, Clone)]
pub struct Slack {
    pub api_url: String,
    pub bot_token: Option<Sealed>,
    pub directory_sync_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub name: String,
    pub channel: Option<String>,
    pub url: Sealed,
    pub mentions: Vec<Mention>,
    /// Where the entry starts, for problems found later (duplicates, mentions).
    pub at: Position,
}

/// An armored age ciphertext, with the field it came from.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub armored: String,
    /// `sha256:<hex>` of `armored`: how the applied state knows this ciphertext.
    pub digest: String,
    /// Dotted path of the secret (`webhooks[2].url`), for messages.
    pub field: String,
    pub at: Position,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub text: String,
    pub at: Position,
}

/// The desired state with its secrets decrypted and checked, or known to be the applied
/// ones.
#[derive(Debug, Clone)]
pub struct Desired {
    pub webhooks: Vec<DesiredWebhook>,
    pub bot_token: Option<DesiredSecret<BotToken>>,
    pub routing: Routing,
}

#[derive(Debug, Clone)]
pub struct DesiredWebhook {
    pub id: String,
    pub name: String,
    pub channel: Option<String>,
    pub mentions: Vec<String>,
    pub url: DesiredSecret<WebhookUrl>,
    /// The Slack team (workspace) id of the URL.
    pub team: String,
}

/// A secret of the desired-state file, with what `plan` compares.
#[derive(Debug, Clone)]
pub struct DesiredSecret<T> {
    pub value: Opened<T>,
    /// `sha256:<hex>` of the plaintext, as the applied state records it.
    pub fingerprint: String,
    /// `sha256:<hex>` of the ciphertext as the file holds it.
    pub ciphertext_digest: String,
}

/// How the value of a [`DesiredSecret`] is known.
#[derive(Debug, Clone)]
pub enum Opened<T> {
    /// Decrypted from the file and checked.
    Decrypted(T),
    /// The file holds, byte for byte, the ciphertext this applied secret was applied
    /// from: its plaintext is the applied one, and it was not decrypted.
    Applied(SealedSecret),
}

impl<T: Clone> DesiredSecret<T> {
    /// The plaintext, checked by `check`: as decrypted from the file, or decrypted now
    /// from the applied state with `keyring`.
    pub fn plaintext(
        &self,
        keyring: &Keyring,
        check: impl Fn(Secret) -> Result<T, values::Refusal>,
    ) -> Result<std::borrow::Cow<'_, T>, SecretsError> {
        match &self.value {
            Opened::Decrypted(value) => Ok(std::borrow::Cow::Borrowed(value)),
            Opened::Applied(sealed) => {
                let secret = decrypt(&sealed.armored, keyring)?;
                check(Secret::new(secret.expose().trim()))
                    .map(std::borrow::Cow::Owned)
                    .map_err(|refusal| SecretsError::Decrypt {
                        reason: refusal.message,
                    })
            }
        }
    }
}

impl DesiredSecret<WebhookUrl> {
    /// The URL with its secret segment reduced to its last four characters.
    pub fn redacted(&self) -> String {
        match &self.value {
            Opened::Decrypted(url) => url.redacted(),
            Opened::Applied(sealed) => sealed.redacted.clone(),
        }
    }
}

/// The applied secrets that a desired-state file may hold unchanged: a secret whose
/// ciphertext in the file is byte for byte the one it was applied from is not decrypted
/// again. Empty ([`Known::default`]) where every value must be decrypted and checked.
#[derive(Debug, Default)]
pub struct Known<'a> {
    webhooks: HashMap<&'a str, &'a AppliedWebhook>,
    token: Option<&'a AppliedToken>,
}

impl<'a> Known<'a> {
    pub fn of(applied: &'a Applied) -> Self {
        Known {
            webhooks: applied.webhooks.iter().map(|w| (w.id.as_str(), w)).collect(),
            token: applied.token.as_ref(),
        }
    }

    /// The applied webhook `id`, when it was applied from the ciphertext of `digest`.
    fn webhook(&self, id: &str, digest: &str) -> Option<&'a AppliedWebhook> {
        self.webhooks
            .get(id)
            .copied()
            .filter(|w| w.url.ciphertext_digest.as_deref() == Some(digest))
    }

    fn token(&self, digest: &str) -> Option<&'a AppliedToken> {
        self.token
            .filter(|t| t.secret.ciphertext_digest.as_deref() == Some(digest))
    }
}

/// Every ciphertext digest `state` recorded (none when it could not be read): the blocks
/// the armor checks and the early decryption pass over.
fn recorded_digests<S: std::borrow::Borrow<Applied>, E>(state: &Result<S, E>) -> FastSet<&str> {
    let Ok(applied) = state else {
        return FastSet::new();
    };
    let applied = applied.borrow();
    let mut digests = FastSet::with_capacity(applied.webhooks.len() + 1);
    digests.extend(
        applied
            .webhooks
            .iter()
            .map(|w| &w.url)
            .chain(applied.token.as_ref().map(|t| &t.secret))
            .filter_map(|s| s.ciphertext_digest.as_deref()),
    );
    digests
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] Report),
}

/// Reads and checks the file at `path`, without decrypting anything.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    Ok(parse(&path.display().to_string(), &read(path)?)?)
}

/// The text of the file at `path`: at most [`bounds::MAX_FILE_BYTES`] are read, and
/// bytes that are not UTF-8 are a problem with a position.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let failed = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| {
            // Sized for the file at once (a large one is read in a few milliseconds
            // rather than grown and copied), within the limit whatever it claims.
            let size = file
                .metadata()
                .map_or(0, |m| m.len())
                .min(bounds::MAX_FILE_BYTES as u64 + 1);
            bytes.reserve_exact(usize::try_from(size).unwrap_or(0) + 1);
            file.take(bounds::MAX_FILE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(failed)?;
    let report = |problem| Report {
        file: path.display().to_string(),
        problems: vec![problem],
    };
    // The size first: a cut at the limit may fall inside a character.
    bounds::check_len(bytes.len()).map_err(report)?;
    Ok(bounds::text(bytes).map_err(report)?)
}

/// The file's bytes, as [`read`] checks them, then [`parse`]: what the loader makes of
/// any bytes at all.
pub fn parse_bytes(file: &str, bytes: Vec<u8>) -> Result<Config, Report> {
    let report = |problem| Report {
        file: file.to_owned(),
        problems: vec![problem],
    };
    let text = bounds::text(bytes).map_err(report)?;
    parse(file, &text)
}

/// [`parse`] then [`open`], against `applied`: what it holds unchanged is not decrypted.
#[cfg(test)]
pub fn parse_open(
    file: &str,
    text: &str,
    keyring: &Keyring,
    applied: &Applied,
) -> Result<(Config, Desired), Report> {
    match parse_open_against(file, text.to_owned(), keyring, Memo::default, || {
        Ok::<_, std::convert::Infallible>(applied)
    }) {
        Ok((_, config, desired)) => Ok((config, desired)),
        Err(Refused::File(report)) => Err(report),
        Err(Refused::State(never)) => match never {},
    }
}

/// Why [`parse_open_against`] gave no desired state.
#[derive(Debug)]
pub enum Refused<E> {
    /// The file has problems (shown before any problem of the state's).
    File(Report),
    /// The applied state could not be read.
    State(E),
}

/// [`parse`] then [`open`], against the applied state that `state` reads: what it holds
/// unchanged is not decrypted. For a large file the state is read while the file is,
/// and then the secrets the state does not hold are decrypted on every core while the
/// file is still being checked (see [`early`]); the entries `memo` remembers are not
/// read again. `text` becomes the config's.
pub fn parse_open_against<S, E>(
    file: &str,
    text: String,
    keyring: &Keyring,
    memo: impl FnOnce() -> Memo,
    state: impl FnOnce() -> Result<S, E> + Send,
) -> Result<(S, Config, Desired), Refused<E>>
where
    S: std::borrow::Borrow<Applied> + Send,
    E: Send,
{
    bounds::check_size(&text).map_err(|problem| {
        Refused::File(Report {
            file: file.to_owned(),
            problems: vec![problem],
        })
    })?;
    if text.len() < PARALLEL_FROM {
        let checked = checked(file, &text, tree::read(&text));
        let state = state();
        let applied = recorded_digests(&state);
        let config = checked.armored(&|s| applied.contains(s.digest.as_str()));
        drop(applied);
        return opened(config, text, state, keyring, None);
    }
    let early = OnceLock::new();
    let stop = AtomicBool::new(false);
    let (state, config) = std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let (scan_sender, scan) = std::sync::mpsc::sync_channel(1);
        let (early, stop, text) = (&early, &stop, text.as_str());
        let worker = scope.spawn(move || {
            let state = state();
            // Not worth it when the memo spared reading most of the file again; the
            // file's reader says so before it waits for the state.
            let wanted = scan.recv().unwrap_or(false);
            let skip: Option<HashSet<String>> = (wanted && state.is_ok())
                .then(|| recorded_digests(&state).into_iter().map(str::to_owned).collect());
            // The file's reader waits for the state; it drops the receiver on a panic.
            let _ = sender.send(state);
            if let Some(skip) = skip
                && !stop.load(Ordering::Relaxed)
            {
                early
                    .get_or_init(|| early::Early::scan(text, &skip))
                    .work(keyring, stop);
            }
        });
        // All but the armors needs no state: checked while the state is read.
        let remembered = memo::checked(file, text, memo());
        let _ = scan_sender.send(remembered.is_none());
        if let Some(config) = remembered.as_ref().and_then(|c| c.config.as_ref()) {
            tracing::debug!(
                remembered = config.remembered,
                webhooks = config.webhooks.len(),
                "webhook entries taken from {}",
                memo::FILE
            );
        }
        let checked = remembered.unwrap_or_else(|| checked(file, text, tree::read(text)));
        if checked.failed() {
            stop.store(true, Ordering::Relaxed);
        }
        let Ok(state) = receiver.recv() else {
            std::panic::resume_unwind(worker.join().expect_err("the state's reader panicked"));
        };
        let applied = recorded_digests(&state);
        // A block decrypted has a valid armor and header: what is left to decrypt is
        // decrypted here too before the armors are checked, so that only the blocks it
        // could not decrypt are checked (a file with problems decrypts no further).
        if let Some(early) = early.get() {
            early.work(keyring, stop);
        }
        let decrypted = |s: &Sealed| early.get().is_some_and(|e| e.get(&s.armored).is_some());
        let config = checked.armored(&|s| applied.contains(s.digest.as_str()) || decrypted(s));
        if config.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        // The scan has long finished; should it not have, the worker decrypts alone.
        if let Some(early) = early.get() {
            early.work(keyring, stop);
        }
        worker.join().expect("a decryption thread does not panic");
        drop(applied);
        (state, config)
    });
    opened(config, text, state, keyring, early.get())
}

/// The checked file (of `text`) opened against the state read, the file's problems
/// before the state's: what was decrypted `early` is taken, the rest decrypted here.
fn opened<S: std::borrow::Borrow<Applied>, E>(
    config: Result<Config, Report>,
    text: String,
    state: Result<S, E>,
    keyring: &Keyring,
    early: Option<&early::Early>,
) -> Result<(S, Config, Desired), Refused<E>> {
    let mut config = config.map_err(Refused::File)?;
    config.text = text;
    let state = state.map_err(Refused::State)?;
    let desired = open_with(&config, keyring, early, &Known::of(state.borrow())).map_err(Refused::File)?;
    Ok((state, config, desired))
}

/// The `recipients:` of the file at `path`, read even when the rest of the file has
/// problems: `encrypt` is how a file with a plaintext secret gets fixed.
pub fn recipients(path: &Path) -> Result<Vec<String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse::recipients(&path.display().to_string(), &text).map_err(ConfigError::Invalid)
}

/// The file size from which decryption starts while the file is checked (about 30
/// webhooks).
const PARALLEL_FROM: usize = 32 * 1024;

/// Checks `text`, the content of `file`, without decrypting anything.
pub fn parse(file: &str, text: &str) -> Result<Config, Report> {
    let mut config = checked(file, text, tree::read(text)).armored(&|_| false)?;
    text.clone_into(&mut config.text);
    Ok(config)
}

/// What [`checked`] found in a file, all but the armor of its ciphertexts.
struct Checked {
    file: String,
    config: Option<Config>,
    /// The ciphertexts the config does not hold (all of them, without a config).
    unplaced: Vec<Sealed>,
    problems: Vec<Problem>,
}

impl Checked {
    /// Whether the file has problems already.
    fn failed(&self) -> bool {
        self.config.is_none()
    }

    /// The config, once the armor of each ciphertext that `known` does not accept
    /// (applied before byte for byte, or decrypted) is checked.
    fn armored(self, known: &(dyn Fn(&Sealed) -> bool + Sync)) -> Result<Config, Report> {
        let Checked {
            file,
            config,
            unplaced,
            mut problems,
        } = self;
        let mut sealed: Vec<&Sealed> = unplaced
            .iter()
            .chain(config.iter().flat_map(Config::sealed))
            .collect();
        // In the file's order (the token, then the webhooks), as problems at one place
        // (an alias's) are listed.
        sealed.sort_by_key(|s| written(s));
        validate::armors(&sealed, known, &mut problems);
        problems.sort_by_key(|p| (p.at.line, p.at.column));
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(Report { file, problems }),
        }
    }
}

/// Where a ciphertext comes in the order it is checked in: the bot token, then the
/// webhooks' URLs by index.
fn written(sealed: &Sealed) -> (bool, usize) {
    let index = sealed
        .field
        .strip_prefix("webhooks[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|index| index.parse().ok());
    (index.is_some(), index.unwrap_or(0))
}

/// Checks what `reading` read of `text`, but for the armor of its ciphertexts.
fn checked(file: &str, text: &str, read: Result<tree::Read, Problem>) -> Checked {
    checked_among(file, text, read, &[]).0
}

/// [`checked`], the webhooks' ids checked among `ids` (those of entries checked before,
/// with their positions); also where the key `webhooks` was read.
fn checked_among(
    file: &str,
    text: &str,
    read: Result<tree::Read, Problem>,
    ids: &[(String, Position)],
) -> (Checked, Position) {
    let fail = |problems| Checked {
        file: file.to_owned(),
        config: None,
        unplaced: Vec::new(),
        problems,
    };
    let read = match read {
        Ok(read) => read,
        Err(problem) => return (fail(vec![problem]), Position::default()),
    };
    let document = match read.document {
        Some(document) => Ok(document),
        None => parse::document(text),
    };
    let (parsed, mut problems) = parse::parse(document, &read.positions);
    let (config, unplaced) = validate::validate(file, text, parsed, &read.positions, ids, &mut problems);
    let checked = Checked {
        file: file.to_owned(),
        config,
        unplaced,
        problems,
    };
    (checked, read.positions.key("webhooks"))
}

/// `sha256:<hex>` of `text`.
pub fn digest(text: &str) -> String {
    crate::secrets::sha256(text.as_bytes())
}

/// Decrypts every secret of `config` that `known` does not hold, and checks the
/// plaintexts.
pub fn open(config: &Config, keyring: &Keyring, known: &Known<'_>) -> Result<Desired, Report> {
    open_with(config, keyring, None, known)
}

/// [`open`], taking what was decrypted `early`.
fn open_with(
    config: &Config,
    keyring: &Keyring,
    early: Option<&early::Early>,
    known: &Known<'_>,
) -> Result<Desired, Report> {
    let unseal = |sealed: &Sealed| match early.and_then(|e| e.get(&sealed.armored)) {
        Some(secret) => Ok(Secret::new(secret.expose().trim())),
        None => unseal(sealed, keyring),
    };
    let mut problems = Vec::new();
    let mut webhooks = Vec::with_capacity(config.webhooks.len());
    let applied: Vec<Option<&AppliedWebhook>> = config
        .webhooks
        .iter()
        .map(|webhook| known.webhook(&webhook.id, &webhook.url.digest))
        .collect();
    // Decryption is most of the work for a large file: spread it over the cores. What
    // the applied state holds is only copied, here.
    let fresh: Vec<&Webhook> = config
        .webhooks
        .iter()
        .zip(&applied)
        .filter_map(|(webhook, applied)| applied.is_none().then_some(webhook))
        .collect();
    let mut decrypted = parallel_map(&fresh, |webhook| {
        let url = unseal(&webhook.url).and_then(|secret| {
            WebhookUrl::parse(&secret).map_err(|r| refused("invalid-url", &webhook.url, r))
        })?;
        let team = url.team().to_owned();
        let url = DesiredSecret {
            fingerprint: fingerprint(url.secret()),
            value: Opened::Decrypted(url),
            ciphertext_digest: webhook.url.digest.clone(),
        };
        Ok((url, team))
    })
    .into_iter();
    let urls = config
        .webhooks
        .iter()
        .zip(&applied)
        .map(|(webhook, applied)| match applied {
            Some(applied) => Some(Ok((
                DesiredSecret {
                    value: Opened::Applied(applied.url.clone()),
                    fingerprint: applied.url.fingerprint.clone(),
                    ciphertext_digest: webhook.url.digest.clone(),
                },
                applied.team.clone(),
            ))),
            None => decrypted.next(),
        });
    for (webhook, url) in config.webhooks.iter().zip(urls.flatten()) {
        match url {
            Ok((url, team)) => webhooks.push(DesiredWebhook {
                id: webhook.id.clone(),
                name: webhook.name.clone(),
                channel: webhook.channel.clone(),
                mentions: webhook.mentions.iter().map(|m| m.text.clone()).collect(),
                url,
                team,
            }),
            Err(problem) => problems.push(problem),
        }
    }
    let bot_token = config.slack.bot_token.as_ref().and_then(|sealed| {
        let ciphertext_digest = sealed.digest.clone();
        if let Some(applied) = known.token(&ciphertext_digest) {
            return Some(DesiredSecret {
                value: Opened::Applied(applied.secret.clone()),
                fingerprint: applied.secret.fingerprint.clone(),
                ciphertext_digest,
            });
        }
        unseal(sealed)
            .and_then(|secret| BotToken::parse(secret).map_err(|r| refused("invalid-token", sealed, r)))
            .map(|token| DesiredSecret {
                fingerprint: fingerprint(token.secret()),
                value: Opened::Decrypted(token),
                ciphertext_digest,
            })
            .map_err(|problem| problems.push(problem))
            .ok()
    });
    if problems.is_empty() {
        return Ok(Desired {
            webhooks,
            bot_token,
            routing: config.routing.clone(),
        });
    }
    problems.sort_by_key(|p| (p.at.line, p.at.column));
    Err(Report {
        file: config.file.clone(),
        problems,
    })
}

/// `f` over `items`, in order, on up to as many threads as there are cores; on the
/// calling thread alone for a few items.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    const PER_THREAD: usize = 64;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let threads = cores.min(items.len().div_ceil(PER_THREAD)).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a decryption thread does not panic"))
            .collect()
    })
}

/// The plaintext of `sealed`, without the surrounding whitespace that `echo … | age`
/// leaves in it.
pub fn unseal(sealed: &Sealed, keyring: &Keyring) -> Result<Secret, Problem> {
    match decrypt(&sealed.armored, keyring) {
        Ok(secret) => Ok(Secret::new(secret.expose().trim())),
        Err(SecretsError::NotForThisIdentity) => Err(Problem::new(
            "decrypt-failed",
            sealed.at,
            format!("cannot decrypt `{}` with the identity {}: it was not encrypted to this identity", sealed.field, keyring.source()),
        )
        .help(format!(
            "encrypt the value to this identity (its recipient is {}) with `hookwarden encrypt`, or use the identity it was encrypted to",
            keyring.recipients().names().join(", ")
        ))),
        Err(error) => Err(Problem::new("malformed-ciphertext", sealed.at, format!("cannot decrypt `{}`: {error}", sealed.field))
            .help("the block is damaged: paste the whole block printed by `hookwarden encrypt` again, from BEGIN to END")),
    }
}

fn refused(code: &'static str, sealed: &Sealed, refusal: values::Refusal) -> Problem {
    Problem::new(
        code,
        sealed.at,
        format!("`{}`: {}", sealed.field, refusal.message),
    )
    .help(refusal.help)
}
