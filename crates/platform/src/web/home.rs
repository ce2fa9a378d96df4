//! Cards products add to the home page for the signed-in user (e.g. who is on call).

use crate::identity::Principal;
use crate::state::Platform;

/// A product's summary for the signed-in user on the home page.
pub struct HomeCard {
    pub title: String,
    pub href: String,
    pub lines: Vec<String>,
}

type HomeFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = crate::AppResult<Option<HomeCard>>> + Send>>;

/// Builds a product's home card; errors are logged and the card left out.
pub type HomePanel = std::sync::Arc<dyn Fn(Platform, Principal) -> HomeFuture + Send + Sync>;

/// Every product's home panel, for the home page handler.
#[derive(Clone, Default)]
pub struct HomePanels(pub Vec<HomePanel>);
