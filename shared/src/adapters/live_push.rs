//! Sends notices to open sockets through API Gateway's management API (`@connections`):
//! PostToConnection per socket, DeleteConnection to close one. Locally the gateway serves the
//! same paths.

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::primitives::Blob;

use crate::adapters::sdk_error;
use crate::error::Result;
use crate::ports::{Delivery, LivePush};

const DEPENDENCY: &str = "API Gateway";

#[derive(Debug, Clone)]
pub struct ApiGatewayPush {
    client: Client,
}

impl ApiGatewayPush {
    /// `endpoint` is the WebSocket stage's management URL, `https://{api}.execute-api.{region}.amazonaws.com/{stage}`.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }
}

impl LivePush for ApiGatewayPush {
    async fn send(&self, connection_id: &str, frame: &[u8]) -> Result<Delivery> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(frame))
            .send()
            .await
        {
            Ok(_) => Ok(Delivery::Sent),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_gone_exception()) =>
            {
                Ok(Delivery::Gone)
            }
            Err(error) => Err(sdk_error(DEPENDENCY, error)),
        }
    }

    async fn close(&self, connection_id: &str) -> Result<()> {
        match self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_gone_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(sdk_error(DEPENDENCY, error)),
        }
    }
}
