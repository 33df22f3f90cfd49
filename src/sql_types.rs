//! Borrowed views of PostgreSQL types pgrx has no Rust type for:
//! `tsvector` (read by BM25) and pgvector's `vector` (query vectors).

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::{pg_sys, FromDatum};

/// Payload of a detoasted `tsvector` argument (after the varlena header).
pub struct TsVectorArg {
    ptr: *const u8,
    len: usize,
}

impl TsVectorArg {
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: points into the detoasted datum, which lives in the
        // function call's memory context for as long as this value does.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl FromDatum for TsVectorArg {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        unsafe {
            let varlena = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
            let len = pgrx::varsize_any_exhdr(varlena);
            let ptr = pgrx::vardata_any(varlena) as *const u8;
            Some(TsVectorArg { ptr, len })
        }
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for TsVectorArg {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }
}

pgrx::impl_sql_translatable!(TsVectorArg, arg_only = "tsvector");

/// A pgvector `vector` argument, copied out as f32 values. Layout: varlena
/// header, int16 dim, int16 unused, float4[dim].
pub struct VectorArg(pub Vec<f32>);

impl FromDatum for VectorArg {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        unsafe {
            let varlena = pg_sys::pg_detoast_datum(datum.cast_mut_ptr());
            let len = pgrx::varsize_any_exhdr(varlena);
            let data = pgrx::vardata_any(varlena) as *const u8;
            let bytes = std::slice::from_raw_parts(data, len);
            let dim = bytes.get(0..2).map(|b| i16::from_le_bytes([b[0], b[1]])).unwrap_or(0).max(0) as usize;
            let values = bytes
                .get(4..4 + dim * 4)
                .map(|b| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
                .unwrap_or_default();
            Some(VectorArg(values))
        }
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for VectorArg {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }
}

pgrx::impl_sql_translatable!(VectorArg, arg_only = "vector");
