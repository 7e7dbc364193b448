//! Where the client commands connect and how they log in, from flags or the environment.
//!
//! The login is chosen from what is given: a token (`BAYOU_TOKEN`) is used as is; username,
//! password, client id and secret use the OAuth password flow; a client id and secret alone,
//! the client credentials flow; a username and password alone, SOAP `login()`; nothing at
//! all, no login (a plain Bayeux server such as `bayou serve --anonymous` or faye).

use std::sync::Arc;

use bayou_client::{
    AuthProvider, ClientBuilder, ClientCredentials, PasswordFlow, SoapLogin, StaticToken,
    TransportKind,
};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientTransport {
    Auto,
    LongPolling,
    Websocket,
}

#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Base URL of the server (Bayou, or a Salesforce instance / My Domain URL). Several
    /// nodes of a Bayou cluster, comma-separated: log in at the first, stream from the first
    /// that answers and move to the next when one fails.
    #[arg(long, env = "BAYOU_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// Log in here instead of at --url (e.g. https://login.salesforce.com); the instance URL
    /// then comes from the login's reply.
    #[arg(long, env = "BAYOU_LOGIN_URL")]
    pub login_url: Option<String>,

    /// The complete Bayeux URL, for servers that are not Salesforce-shaped
    /// (e.g. http://127.0.0.1:8000/faye); overrides --url for streaming.
    #[arg(long, env = "BAYOU_BAYEUX_URL")]
    pub bayeux_url: Option<String>,

    /// API version in the endpoint paths.
    #[arg(long, env = "BAYOU_API_VERSION", default_value = bayou_client::DEFAULT_API_VERSION)]
    pub api_version: String,

    /// Username (OAuth password flow, or SOAP login without a client id).
    #[arg(long, env = "BAYOU_USERNAME")]
    pub username: Option<String>,

    /// Password (on Salesforce: the password followed by the security token).
    #[arg(long, env = "BAYOU_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Connected app client id.
    #[arg(long, env = "BAYOU_CLIENT_ID")]
    pub client_id: Option<String>,

    /// Connected app client secret.
    #[arg(long, env = "BAYOU_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,

    /// An access token to use as is (no login).
    #[arg(long, env = "BAYOU_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Transport for streaming.
    #[arg(long, value_enum, default_value = "auto")]
    pub transport: ClientTransport,
}

impl Connection {
    /// The URLs `--url` names.
    fn urls(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }

    /// The first of `--url`'s URLs: where logins and REST calls go.
    pub fn first_url(&self) -> &str {
        self.urls().first().copied().unwrap_or(&self.url)
    }

    fn login_url(&self) -> &str {
        self.login_url.as_deref().unwrap_or(self.first_url())
    }

    /// The auth provider the given credentials call for, if any.
    pub fn auth(&self) -> anyhow::Result<Option<Arc<dyn AuthProvider>>> {
        let login = self.login_url().to_owned();
        let provider: Arc<dyn AuthProvider> = match (
            &self.token,
            &self.username,
            &self.password,
            &self.client_id,
            &self.client_secret,
        ) {
            (Some(token), ..) => Arc::new(StaticToken::new(token)),
            (None, Some(user), Some(password), Some(id), Some(secret)) => {
                Arc::new(PasswordFlow::new(login, id, secret, user, password))
            }
            (None, None, None, Some(id), Some(secret)) => {
                Arc::new(ClientCredentials::new(login, id, secret))
            }
            (None, Some(user), Some(password), None, None) => {
                let mut soap = SoapLogin::new(login, user, password);
                soap.api_version = self.api_version.clone();
                Arc::new(soap)
            }
            (None, None, None, None, None) => return Ok(None),
            _ => anyhow::bail!(
                "incomplete credentials: give a token (--token / BAYOU_TOKEN), or username and \
                 password with client id and secret (OAuth), or client id and secret alone, or \
                 username and password alone (SOAP login)"
            ),
        };
        Ok(Some(provider))
    }

    /// A client builder for these settings.
    pub fn client(&self) -> anyhow::Result<ClientBuilder> {
        let mut builder = bayou_client::Client::builder()
            .api_version(&self.api_version)
            .transport(match self.transport {
                ClientTransport::Auto => TransportKind::Auto,
                ClientTransport::LongPolling => TransportKind::LongPolling,
                ClientTransport::Websocket => TransportKind::WebSocket,
            });
        if let Some(url) = &self.bayeux_url {
            builder = builder.bayeux_url(url);
        }
        // With a separate login URL the instance comes from the login (as on Salesforce);
        // a bare token has nothing else to go by.
        if self.login_url.is_none() || self.token.is_some() {
            builder = builder.instance_url(self.first_url());
        }
        let urls = self.urls();
        if urls.len() > 1 {
            builder = builder.servers(urls);
        }
        if let Some(auth) = self.auth()? {
            builder = builder.auth_shared(auth);
        }
        Ok(builder)
    }

    /// A REST client for these settings.
    pub fn rest(&self) -> anyhow::Result<bayou_client::RestClient> {
        let auth = self.auth()?.ok_or_else(|| {
            anyhow::anyhow!(
                "REST calls need credentials: --token, or --username/--password with \
                 --client-id/--client-secret (or BAYOU_TOKEN, BAYOU_USERNAME, …)"
            )
        })?;
        let mut rest =
            bayou_client::RestClient::with_shared_auth(auth).api_version(&self.api_version);
        if self.login_url.is_none() || self.token.is_some() {
            rest = rest.instance_url(self.first_url());
        }
        Ok(rest)
    }
}
