//! Builds DynamoDB update and condition expressions from named values, with placeholders for
//! every attribute name (so reserved words such as `status` never break a request).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Default)]
pub struct UpdateExpression {
    sets: Vec<String>,
    removes: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl UpdateExpression {
    pub fn new() -> Self {
        Self::default()
    }

    fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET attribute = value`.
    pub fn set(&mut self, attribute: &str, value: &impl Serialize) -> Result<&mut Self> {
        let value = serde_dynamo::to_attribute_value(value)
            .map_err(|error| Error::Internal(format!("serializing {attribute}: {error}")))?;
        let name = self.name(attribute);
        let value = self.value(value);
        self.sets.push(format!("{name} = {value}"));
        Ok(self)
    }

    /// `SET attribute = value` for `Some`, `REMOVE attribute` for `None`.
    pub fn set_or_remove<T: Serialize>(
        &mut self,
        attribute: &str,
        value: &Option<T>,
    ) -> Result<&mut Self> {
        match value {
            Some(value) => self.set(attribute, value),
            None => {
                let name = self.name(attribute);
                self.removes.push(name);
                Ok(self)
            }
        }
    }

    /// `SET attribute = attribute + 1`.
    pub fn increment(&mut self, attribute: &str) -> &mut Self {
        let name = self.name(attribute);
        let one = self.value(AttributeValue::N("1".into()));
        self.sets.push(format!("{name} = {name} + {one}"));
        self
    }

    /// `SET attribute = attribute + delta`, counting from 0 when the attribute is absent.
    pub fn add_to_count(&mut self, attribute: &str, delta: i64) -> &mut Self {
        let name = self.name(attribute);
        let zero = self.value(AttributeValue::N("0".into()));
        let delta = self.value(AttributeValue::N(delta.to_string()));
        self.sets
            .push(format!("{name} = if_not_exists({name}, {zero}) + {delta}"));
        self
    }

    /// Adds "`attribute` is absent or below `limit`" to the condition.
    pub fn require_below(&mut self, attribute: &str, limit: u32) -> &mut Self {
        let name = self.name(attribute);
        let limit = self.value(AttributeValue::N(limit.to_string()));
        self.conditions.push(format!(
            "(attribute_not_exists({name}) OR {name} < {limit})"
        ));
        self
    }

    /// Adds `attribute_exists(attribute)` to the condition.
    pub fn require_exists(&mut self, attribute: &str) -> &mut Self {
        let name = self.name(attribute);
        self.conditions.push(format!("attribute_exists({name})"));
        self
    }

    /// Adds `attribute_not_exists(attribute)` to the condition.
    pub fn require_absent(&mut self, attribute: &str) -> &mut Self {
        let name = self.name(attribute);
        self.conditions
            .push(format!("attribute_not_exists({name})"));
        self
    }

    /// Adds `attribute = value` to the condition.
    pub fn require_equals(&mut self, attribute: &str, value: &impl Serialize) -> Result<&mut Self> {
        let value = serde_dynamo::to_attribute_value(value)
            .map_err(|error| Error::Internal(format!("serializing {attribute}: {error}")))?;
        let name = self.name(attribute);
        let value = self.value(value);
        self.conditions.push(format!("{name} = {value}"));
        Ok(self)
    }

    /// `SET attribute = list_append(attribute or [], values)`.
    pub fn append_to_list(
        &mut self,
        attribute: &str,
        values: &impl Serialize,
    ) -> Result<&mut Self> {
        let values = serde_dynamo::to_attribute_value(values)
            .map_err(|error| Error::Internal(format!("serializing {attribute}: {error}")))?;
        let name = self.name(attribute);
        let empty = self.value(AttributeValue::L(Vec::new()));
        let values = self.value(values);
        self.sets.push(format!(
            "{name} = list_append(if_not_exists({name}, {empty}), {values})"
        ));
        Ok(self)
    }

    /// Adds "the list `attribute` holds exactly `length` items (absent counts as empty)".
    pub fn require_list_length(&mut self, attribute: &str, length: usize) -> &mut Self {
        let name = self.name(attribute);
        let length = self.value(AttributeValue::N(length.to_string()));
        let zero = self.value(AttributeValue::N("0".into()));
        self.conditions.push(format!(
            "((attribute_not_exists({name}) AND {length} = {zero}) OR size({name}) = {length})"
        ));
        self
    }

    /// Adds "`attribute` equals one of `values`" to the condition.
    pub fn require_one_of<T: Serialize>(
        &mut self,
        attribute: &str,
        values: &[T],
    ) -> Result<&mut Self> {
        let name = self.name(attribute);
        let mut placeholders = Vec::new();
        for value in values {
            let value = serde_dynamo::to_attribute_value(value)
                .map_err(|error| Error::Internal(format!("serializing {attribute}: {error}")))?;
            placeholders.push(self.value(value));
        }
        self.conditions
            .push(format!("{name} IN ({})", placeholders.join(", ")));
        Ok(self)
    }

    pub fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        parts.join(" ")
    }

    pub fn condition_expression(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    pub fn names(&self) -> HashMap<String, String> {
        self.names.clone()
    }

    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// An UpdateItem request of `key` in `table` carrying this expression and its condition.
    pub fn update_item(
        &self,
        client: &Client,
        table: &str,
        key: HashMap<String, AttributeValue>,
    ) -> UpdateItemFluentBuilder {
        client
            .update_item()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.update_expression())
            .set_condition_expression(self.condition_expression())
            .set_expression_attribute_names(Some(self.names()))
            .set_expression_attribute_values(self.values())
    }

    /// The same update as one item of a transaction.
    pub fn transaction_update(
        &self,
        table: &str,
        key: HashMap<String, AttributeValue>,
    ) -> Result<Update> {
        Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.update_expression())
            .set_condition_expression(self.condition_expression())
            .set_expression_attribute_names(Some(self.names()))
            .set_expression_attribute_values(self.values())
            .build()
            .map_err(|error| Error::Internal(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_set_remove_and_conditions_with_placeholders() {
        let mut expression = UpdateExpression::new();
        expression.set("title", &"New").unwrap();
        expression
            .set_or_remove::<u32>("storyPoint", &None)
            .unwrap();
        expression.increment("version");
        expression.require_exists("id");
        expression.require_equals("status", &"Draft").unwrap();
        assert_eq!(
            expression.update_expression(),
            "SET #title = :v0, #version = #version + :v1 REMOVE #storyPoint"
        );
        assert_eq!(
            expression.condition_expression().unwrap(),
            "attribute_exists(#id) AND #status = :v2"
        );
        assert_eq!(expression.names()["#status"], "status");
        let mut count = UpdateExpression::new();
        count
            .add_to_count("testCount", -1)
            .require_below("testCount", 50);
        assert_eq!(
            count.update_expression(),
            "SET #testCount = if_not_exists(#testCount, :v0) + :v1"
        );
        assert_eq!(
            count.condition_expression().unwrap(),
            "(attribute_not_exists(#testCount) OR #testCount < :v2)"
        );
        assert_eq!(
            count.values().unwrap()[":v1"],
            AttributeValue::N("-1".into())
        );
        assert_eq!(
            expression.values().unwrap()[":v0"],
            AttributeValue::S("New".into())
        );
    }
}
