//! A minimal protobuf view of a model's inputs and outputs with their full types.
//!
//! `tract_onnx::pb::TypeProto` only knows tensor types, so sequences, maps and optionals would
//! decode as "no type". These messages keep just what a signature needs (the field numbers are
//! those of onnx.proto) and let prost skip everything else.

#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelSig {
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphSig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphSig {
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoSig>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoSig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoSig {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeSig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeSig {
    #[prost(oneof = "TypeValue", tags = "1, 4, 5, 8, 9")]
    pub value: Option<TypeValue>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum TypeValue {
    #[prost(message, tag = "1")]
    Tensor(TensorTypeSig),
    #[prost(message, tag = "4")]
    Sequence(Box<SequenceTypeSig>),
    #[prost(message, tag = "5")]
    Map(Box<MapTypeSig>),
    #[prost(message, tag = "8")]
    SparseTensor(TensorTypeSig),
    #[prost(message, tag = "9")]
    Optional(Box<SequenceTypeSig>),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorTypeSig {
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<tract_onnx::pb::TensorShapeProto>,
}

/// `Sequence` and `Optional` both hold one `elem_type` TypeProto at field 1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SequenceTypeSig {
    #[prost(message, optional, boxed, tag = "1")]
    pub elem_type: Option<Box<TypeSig>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MapTypeSig {
    #[prost(int32, tag = "1")]
    pub key_type: i32,
    #[prost(message, optional, boxed, tag = "2")]
    pub value_type: Option<Box<TypeSig>>,
}
