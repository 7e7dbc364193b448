//! Who exists in the org: its id, its users, and the connected app clients log in through.
//!
//! On first start a dev org is created — one user and one connected app with random secrets —
//! saved with hashed secrets in `<data-dir>/org.json`, and the plain-text credentials are
//! printed once and written to `<data-dir>/credentials.txt` (mode 0600) so they can be found
//! again. `BAYOU_USERNAME`, `BAYOU_PASSWORD`, `BAYOU_CLIENT_ID` and `BAYOU_CLIENT_SECRET`
//! override them at every start.

use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

use crate::ids::{new_id, prefix};
use crate::OrgError;

/// A user who can log in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
}

/// A connected app: the OAuth client users log in through.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: String,
    pub secret_hash: String,
    /// The user `client_credentials` logins run as.
    pub run_as_user_id: String,
}

/// The org's identity, as stored in `org.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub org_id: String,
    pub users: Vec<User>,
    pub apps: Vec<ConnectedApp>,
}

/// Credential overrides, from the environment or flags.
#[derive(Debug, Clone, Default)]
pub struct CredentialOverrides {
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// More users (username, password), from the configuration file: created if new, their
    /// password reset if they exist.
    pub extra_users: Vec<(String, String)>,
}

/// Plain-text credentials created on first start, to show the user once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredentials {
    pub username: String,
    pub password: String,
    pub client_id: String,
    pub client_secret: String,
}

impl NewCredentials {
    /// The text printed at first start and written to `credentials.txt`.
    pub fn describe(&self) -> String {
        format!(
            "username:      {}\npassword:      {}\nclient id:     {}\nclient secret: {}\n",
            self.username, self.password, self.client_id, self.client_secret
        )
    }
}

/// Hashes a secret with Argon2id and a random salt.
pub fn hash_secret(secret: &str) -> Result<String, OrgError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| OrgError::Internal(format!("cannot make a salt: {e}")))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| OrgError::Internal(format!("cannot hash a secret: {e}")))
}

/// Checks a secret against its stored hash, in constant time.
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn random_text(len: usize) -> String {
    use rand::RngExt;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

impl Identity {
    /// Loads `org.json` from `data_dir`, creating a dev org on first start, and applies the
    /// overrides. Returns the plain-text credentials when it created any.
    pub fn load_or_create(
        data_dir: &Path,
        overrides: &CredentialOverrides,
    ) -> Result<(Self, Option<NewCredentials>), OrgError> {
        let path = data_dir.join("org.json");
        let io = |e: std::io::Error| OrgError::Internal(format!("{}: {e}", path.display()));
        let (mut identity, mut created) = if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(io)?;
            let identity: Identity = serde_json::from_str(&text)
                .map_err(|e| OrgError::Internal(format!("{} is not valid: {e}", path.display())))?;
            (identity, None)
        } else {
            let user_id = new_id(prefix::USER);
            let credentials = NewCredentials {
                username: "admin@bayou.local".to_owned(),
                password: random_text(16),
                client_id: format!("3MVG9{}", random_text(40)),
                client_secret: random_text(32),
            };
            let identity = Identity {
                org_id: new_id(prefix::ORGANIZATION),
                users: vec![User {
                    id: user_id.clone(),
                    username: credentials.username.clone(),
                    display_name: "Bayou Admin".to_owned(),
                    password_hash: hash_secret(&credentials.password)?,
                }],
                apps: vec![ConnectedApp {
                    client_id: credentials.client_id.clone(),
                    secret_hash: hash_secret(&credentials.client_secret)?,
                    run_as_user_id: user_id,
                }],
            };
            (identity, Some(credentials))
        };
        identity.apply(overrides, created.as_mut())?;
        create_private_dir(data_dir).map_err(io)?;
        let json = serde_json::to_string_pretty(&identity)
            .map_err(|e| OrgError::Internal(e.to_string()))?;
        write_private(&path, &json).map_err(io)?;
        if let Some(credentials) = &created {
            write_private(&data_dir.join("credentials.txt"), &credentials.describe())
                .map_err(io)?;
        }
        Ok((identity, created))
    }

    /// Replaces the first user's and app's credentials with the overrides given.
    /// Applies the credential overrides to an identity made elsewhere (another node's).
    pub(crate) fn apply_overrides(
        &mut self,
        overrides: &CredentialOverrides,
    ) -> Result<(), OrgError> {
        self.apply(overrides, None)
    }

    fn apply(
        &mut self,
        overrides: &CredentialOverrides,
        created: Option<&mut NewCredentials>,
    ) -> Result<(), OrgError> {
        let (Some(user), Some(app)) = (self.users.first_mut(), self.apps.first_mut()) else {
            return Err(OrgError::Internal(
                "org.json has no user or no connected app".into(),
            ));
        };
        let mut shown = created;
        if let Some(username) = &overrides.username {
            user.username = username.clone();
            if let Some(c) = shown.as_mut() {
                c.username = username.clone();
            }
        }
        if let Some(password) = &overrides.password {
            user.password_hash = hash_secret(password)?;
            if let Some(c) = shown.as_mut() {
                c.password = password.clone();
            }
        }
        if let Some(client_id) = &overrides.client_id {
            app.client_id = client_id.clone();
            if let Some(c) = shown.as_mut() {
                c.client_id = client_id.clone();
            }
        }
        if let Some(secret) = &overrides.client_secret {
            app.secret_hash = hash_secret(secret)?;
            if let Some(c) = shown.as_mut() {
                c.client_secret = secret.clone();
            }
        }
        for (username, password) in &overrides.extra_users {
            let password_hash = hash_secret(password)?;
            match self
                .users
                .iter_mut()
                .find(|u| u.username.eq_ignore_ascii_case(username))
            {
                Some(user) => user.password_hash = password_hash,
                None => self.users.push(User {
                    id: new_id(prefix::USER),
                    username: username.clone(),
                    display_name: username.split('@').next().unwrap_or(username).to_owned(),
                    password_hash,
                }),
            }
        }
        Ok(())
    }

    pub fn user_by_name(&self, username: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn app(&self, client_id: &str) -> Option<&ConnectedApp> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }
}

/// Writes a file only its owner may read (it holds password hashes or credentials); a file
/// left readable by an earlier version is made private too.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())
}

/// Creates the data directory (if needed) so that only its owner may enter it: the event log,
/// the records and `org.json` inside are then private whatever their own modes.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_org_json_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        Identity::load_or_create(&data, &CredentialOverrides::default()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("org.json")), 0o600);
        assert_eq!(mode(&data.join("credentials.txt")), 0o600);
    }

    #[test]
    fn first_start_creates_credentials_that_verify_and_later_starts_keep_them() {
        let dir = tempfile::tempdir().unwrap();
        let (identity, created) =
            Identity::load_or_create(dir.path(), &CredentialOverrides::default()).unwrap();
        let created = created.expect("first start creates credentials");
        let user = identity.user_by_name(&created.username).unwrap();
        assert!(verify_secret(&created.password, &user.password_hash));
        assert!(!verify_secret("wrong", &user.password_hash));
        assert!(!std::fs::read_to_string(dir.path().join("org.json"))
            .unwrap()
            .contains(&created.password));
        assert!(std::fs::read_to_string(dir.path().join("credentials.txt"))
            .unwrap()
            .contains(&created.password));

        let (again, none) =
            Identity::load_or_create(dir.path(), &CredentialOverrides::default()).unwrap();
        assert!(none.is_none());
        assert_eq!(again, identity);
    }

    #[test]
    fn overrides_win() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = CredentialOverrides {
            username: Some("ci@example.com".into()),
            password: Some("s3cret".into()),
            client_id: Some("my-client".into()),
            client_secret: Some("my-secret".into()),
            extra_users: vec![("second@example.com".into(), "two".into())],
        };
        let (identity, created) = Identity::load_or_create(dir.path(), &overrides).unwrap();
        assert_eq!(created.unwrap().password, "s3cret");
        let user = identity.user_by_name("CI@example.com").unwrap();
        assert!(verify_secret("s3cret", &user.password_hash));
        let app = identity.app("my-client").unwrap();
        assert!(verify_secret("my-secret", &app.secret_hash));
        let second = identity.user_by_name("second@example.com").unwrap();
        assert!(verify_secret("two", &second.password_hash));
        assert_ne!(second.id, user.id);
        // A second start keeps the same user (and id).
        let (again, _) = Identity::load_or_create(dir.path(), &overrides).unwrap();
        assert_eq!(again.users.len(), 2);
        assert_eq!(
            again.user_by_name("second@example.com").unwrap().id,
            second.id
        );
    }
}
