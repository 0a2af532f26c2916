//! Argon2id password hashes, computed by a small fixed set of hashing threads.
//!
//! Each hash needs ~19 MiB of working memory. Run on tokio's blocking pool, every one of its
//! many threads kept such a block in its allocator arena, and a burst of logins left the
//! process at a gigabyte. Here each hashing thread allocates its block once and reuses it for
//! every hash, so memory is bounded by design: threads × one block, whatever the load. Work
//! waits in a bounded queue; a request that finds it full gets 503 at once, and one that has
//! waited [`MAX_WAIT`] without starting gets 503 then, rather than piling up.

use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing thread is busy and the queue is full, or the request waited too long.
    #[error("password hashing is saturated")]
    Busy,
    /// A thread could not start or died, or Argon2 refused (logged where it happened).
    #[error("password hashing failed")]
    Failed,
}

/// Most hashing threads, whatever the core count: each holds one working-memory block.
const MAX_THREADS: usize = 4;
/// Requests that may wait for a hashing thread (each holds only a password and a reply slot).
const QUEUE_CAPACITY: usize = 1024;
/// A request that waited this long is answered 503 instead of being hashed late.
const MAX_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Passwords {
    jobs: Sender<Job>,
    /// A real hash of a random password. Logins for unknown accounts are checked against it,
    /// so they cost the same time as a wrong password and reveal nothing.
    dummy_hash: Arc<str>,
}

enum Work {
    Hash,
    Verify(String),
}

struct Job {
    password: Vec<u8>,
    work: Work,
    queued_at: Instant,
    reply: oneshot::Sender<Result<Done, PasswordError>>,
}

enum Done {
    Hashed(String),
    Verified(bool),
}

impl Passwords {
    pub async fn new() -> Result<Self, PasswordError> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(MAX_THREADS));
        let (jobs, queue) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || hashing_thread(&queue))
                .map_err(|err| {
                    tracing::error!(error = %err, "cannot start a password-hashing thread");
                    PasswordError::Failed
                })?;
        }
        // The dummy hash is made once, outside the hashing threads, in a block freed as soon as
        // it is done: a server that has not hashed a password yet holds no hashing memory.
        let random: [u8; 24] = rand::random();
        let dummy_hash = tokio::task::spawn_blocking(move || hash(&random, &mut Vec::new()))
            .await
            .map_err(|_| PasswordError::Failed)??;
        Ok(Self {
            jobs,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The PHC string (`$argon2id$v=19$...`) for a new password.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        match self.run(password.as_bytes().to_vec(), Work::Hash).await? {
            Done::Hashed(hash) => Ok(hash),
            Done::Verified(_) => Err(PasswordError::Failed),
        }
    }

    /// Whether `password` matches `stored`; `None` checks against the dummy hash and is always
    /// false, taking the same time as a real check.
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).to_owned();
        let work = Work::Verify(stored);
        match self.run(password.as_bytes().to_vec(), work).await? {
            Done::Verified(matched) => Ok(known && matched),
            Done::Hashed(_) => Err(PasswordError::Failed),
        }
    }

    /// Hashes and checks waiting for a thread, and being computed (by the whole process).
    pub fn load(&self) -> (usize, usize) {
        (self.jobs.len(), RUNNING.load(Ordering::Relaxed))
    }

    async fn run(&self, password: Vec<u8>, work: Work) -> Result<Done, PasswordError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            password,
            work,
            queued_at: Instant::now(),
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if QUEUE_FULL_WARNING.due() {
                    tracing::warn!("password hashing queue is full; answering 503");
                }
                return Err(PasswordError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => return Err(PasswordError::Failed),
        }
        answer.await.map_err(|_| PasswordError::Failed)?
    }
}

/// A warning said at most once every ten seconds, so that a flood of logins does not flood
/// the log as well.
struct Throttled(AtomicU64);

static QUEUE_FULL_WARNING: Throttled = Throttled(AtomicU64::new(0));
static LATE_WARNING: Throttled = Throttled(AtomicU64::new(0));

impl Throttled {
    fn due(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.0.load(Ordering::Relaxed);
        now >= last + 10
            && self
                .0
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Hashes being computed right now, by every hashing thread of the process (for metrics).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Takes jobs until every `Passwords` handle is gone, hashing in one memory block, allocated
/// on the thread's first hash and reused for every later one. (Giving it back between bursts
/// was tried: the allocator kept the freed blocks anyway and, fragmented, grew past 200 MB.)
fn hashing_thread(queue: &Receiver<Job>) {
    let mut memory = Vec::new(); // sized on first use
    loop {
        let Ok(job) = queue.recv() else { return }; // every `Passwords` handle is gone
        if job.reply.is_closed() {
            continue; // nobody waits for the answer any more (the request task was dropped)
        }
        RUNNING.fetch_add(1, Ordering::Relaxed);
        let done = if job.queued_at.elapsed() > MAX_WAIT {
            if LATE_WARNING.due() {
                tracing::warn!("password checks wait too long for a hashing thread; answering 503");
            }
            Err(PasswordError::Busy)
        } else {
            // A panic in one hash must not take the thread (and its share of capacity) away.
            let work = std::panic::AssertUnwindSafe(|| match job.work {
                Work::Hash => hash(&job.password, &mut memory).map(Done::Hashed),
                Work::Verify(stored) => {
                    Ok(Done::Verified(verify(&job.password, &stored, &mut memory)))
                }
            });
            std::panic::catch_unwind(work).unwrap_or_else(|_| {
                tracing::error!("password hashing panicked");
                Err(PasswordError::Failed)
            })
        };
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        let _ = job.reply.send(done);
    }
}

/// A new Argon2id hash with the default parameters and a random salt, as a PHC string.
fn hash(password: &[u8], memory: &mut Vec<Block>) -> Result<String, PasswordError> {
    let salt: [u8; 16] = rand::random();
    let params = Params::default();
    let failed = |err: &dyn std::fmt::Display| {
        tracing::error!(error = %err, "password hashing failed");
        PasswordError::Failed
    };
    let output = compute(
        password,
        &salt,
        Algorithm::Argon2id,
        Version::V0x13,
        &params,
        memory,
    )
    .map_err(|err| failed(&err))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|err| failed(&err))?,
        salt: Some(Salt::new(&salt).map_err(|err| failed(&err))?),
        hash: Some(Output::new(&output).map_err(|err| failed(&err))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored`, recomputed with the parameters it
/// names (so hashes made with other parameters still verify). Comparison is constant-time.
fn verify(password: &[u8], stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from);
    let params = Params::try_from(&parsed);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, params) else {
        return false;
    };
    compute(password, salt.as_ref(), algorithm, version, &params, memory)
        .ok()
        .and_then(|output| Output::new(&output).ok())
        .is_some_and(|output| output == expected)
}

/// Runs Argon2 in `memory`, grown first if the parameters need more (a hash made with a
/// larger memory cost); the output has the length the parameters ask for.
fn compute(
    password: &[u8],
    salt: &[u8],
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    memory: &mut Vec<Block>,
) -> Result<Vec<u8>, argon2::Error> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password,
        salt,
        &mut output,
        &mut memory[..blocks],
    )?;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher;

    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let passwords = Passwords::new().await.unwrap();
        let hash = passwords.hash("correct horse").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            passwords
                .verify("correct horse", Some(&hash))
                .await
                .unwrap()
        );
        assert!(!passwords.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!passwords.verify("correct horse", None).await.unwrap());
        assert!(
            !passwords
                .verify("correct horse", Some("garbage"))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crate_both_ways() {
        let passwords = Passwords::new().await.unwrap();
        // Made by the crate itself, with other parameters than ours: still verifies.
        let params = Params::new(8192, 1, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"hunter42")
            .unwrap()
            .to_string();
        assert!(passwords.verify("hunter42", Some(&theirs)).await.unwrap());
        assert!(!passwords.verify("hunter43", Some(&theirs)).await.unwrap());
        // Made here: the crate's own verifier accepts it.
        let ours = passwords.hash("hunter42").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        let verified =
            argon2::PasswordVerifier::verify_password(&Argon2::default(), b"hunter42", &parsed);
        assert!(verified.is_ok(), "{ours}");
    }
}
