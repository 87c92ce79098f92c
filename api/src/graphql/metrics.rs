//! An async-graphql extension that counts operations by type and outcome for `/metrics`.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};

use crate::metrics::Metrics;

pub struct OperationMetrics(pub Arc<Metrics>);

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequest {
            metrics: self.0.clone(),
            operation: Mutex::new("unknown"),
        })
    }
}

struct PerRequest {
    metrics: Arc<Metrics>,
    /// Set once the document is parsed; `unknown` when parsing failed.
    operation: Mutex<&'static str>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for PerRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let resp = next.run(ctx).await;
        let op = *self.operation.lock().unwrap_or_else(|p| p.into_inner());
        self.metrics.record_graphql(op, resp.is_ok());
        resp
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if let Some((_, op)) = doc.operations.iter().next() {
            let kind = match op.node.ty {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            *self.operation.lock().unwrap_or_else(|p| p.into_inner()) = kind;
        }
        Ok(doc)
    }
}
