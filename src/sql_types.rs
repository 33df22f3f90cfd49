//! PostgreSQL types pgrx has no Rust type for: `tsvector` (read by BM25,
//! built at ingestion), `regconfig`, pgvector's `vector` (query vectors)
//! and `regclass` (an operator's tables for rag_evaluate).

use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::{pg_sys, FromDatum, IntoDatum};

/// Argument passing through `FromDatum` for the types below; a NULL
/// argument is an error (pgrx reports the panic as an ERROR).
macro_rules! arg_abi_via_from_datum {
    ($t:ty) => {
        unsafe impl<'fcx> ArgAbi<'fcx> for $t {
            unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
                let index = arg.index();
                unsafe { arg.unbox_arg_using_from_datum() }
                    .unwrap_or_else(|| panic!("argument {index} must not be null"))
            }
        }
    };
}

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

// Elements of a tsvector[] argument (the statistics triggers pass one).
unsafe impl pgrx::datum::UnboxDatum for TsVectorArg {
    type As<'src> = TsVectorArg;
    unsafe fn unbox<'src>(datum: pgrx::datum::Datum<'src>) -> Self::As<'src>
    where
        Self: 'src,
    {
        // SAFETY: array elements are non-null, in-line tsvector varlenas.
        unsafe {
            let varlena = pg_sys::pg_detoast_datum_packed(datum.sans_lifetime().cast_mut_ptr());
            TsVectorArg { ptr: pgrx::vardata_any(varlena) as *const u8, len: pgrx::varsize_any_exhdr(varlena) }
        }
    }
}

arg_abi_via_from_datum!(TsVectorArg);

/// An owned copy of a `tsvector` payload (the bytes after the varlena
/// header), e.g. a column read through SPI.
pub struct TsVectorBytes(pub Vec<u8>);

impl FromDatum for TsVectorBytes {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, oid: pg_sys::Oid) -> Option<Self> {
        // SAFETY: forwarded; the bytes are copied before the detoasted copy
        // can be freed.
        unsafe { TsVectorArg::from_polymorphic_datum(datum, is_null, oid) }.map(|t| TsVectorBytes(t.as_bytes().to_vec()))
    }
}

impl IntoDatum for TsVectorBytes {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(TsVectorValue::from_payload(&self.0).0)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::TSVECTOROID
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

arg_abi_via_from_datum!(VectorArg);

pgrx::impl_sql_translatable!(VectorArg, arg_only = "vector");

/// A `tsvector` result: a varlena allocated in the current memory context.
pub struct TsVectorValue(pg_sys::Datum);

impl TsVectorValue {
    /// Wraps tsvector bytes without the varlena header (the layout
    /// `rag_core::tsvector::simple_tsvector` produces).
    pub fn from_payload(payload: &[u8]) -> Self {
        let total = pg_sys::VARHDRSZ + payload.len();
        // SAFETY: palloc0 either returns `total` writable bytes or raises an
        // ERROR; the header is set before the value escapes. Callers keep
        // payloads far below the 1 GB varlena limit (tsvectors are < 1 MB).
        unsafe {
            let ptr = pg_sys::palloc0(total) as *mut pg_sys::varlena;
            pgrx::set_varsize_4b(ptr, total as i32);
            std::ptr::copy_nonoverlapping(payload.as_ptr(), pgrx::vardata_4b(ptr) as *mut u8, payload.len());
            TsVectorValue(pg_sys::Datum::from(ptr))
        }
    }

    /// A tsvector datum PostgreSQL produced.
    pub fn from_datum(datum: pg_sys::Datum) -> Self {
        TsVectorValue(datum)
    }
}

unsafe impl BoxRet for TsVectorValue {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}

pgrx::impl_sql_translatable!(TsVectorValue, "tsvector");

/// A `regconfig` argument (text search configuration).
pub struct RegConfigArg(pub pg_sys::Oid);

impl FromDatum for RegConfigArg {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            None
        } else {
            Some(RegConfigArg(pg_sys::Oid::from(datum.value() as u32)))
        }
    }
}

arg_abi_via_from_datum!(RegConfigArg);

pgrx::impl_sql_translatable!(RegConfigArg, arg_only = "regconfig");

/// A `regclass` argument: an operator's table, resolved by PostgreSQL from
/// the name the caller gave (so the table exists and the name is checked).
pub struct RegClassArg(pub pg_sys::Oid);

impl FromDatum for RegClassArg {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            None
        } else {
            Some(RegClassArg(pg_sys::Oid::from(datum.value() as u32)))
        }
    }
}

arg_abi_via_from_datum!(RegClassArg);

pgrx::impl_sql_translatable!(RegClassArg, arg_only = "regclass");

/// A `jsonb` value as the text PostgreSQL prints for it (`jsonb_out`).
///
/// jsonb holds what serde_json's `Value` cannot: numbers beyond a double
/// and nesting deeper than serde_json's recursion limit. Arguments arrive
/// as text, and only the parts the extension interprets are parsed
/// (rag_core::json_text), so every valid jsonb is read, and stored back
/// byte for byte.
#[derive(Clone, Debug)]
pub struct JsonbText(pub String);

impl FromDatum for JsonbText {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: a non-null jsonb datum; jsonb_out returns a palloc'd,
        // NUL-terminated UTF-8 string (the database encoding is UTF-8 for
        // the extension's text), copied before it is freed.
        unsafe {
            let varlena = datum.cast_mut_ptr();
            let detoasted = pg_sys::pg_detoast_datum_packed(varlena);
            let cstr = pgrx::direct_function_call::<&core::ffi::CStr>(pg_sys::jsonb_out, &[Some(detoasted.into())])?;
            let text = cstr.to_string_lossy().into_owned();
            pg_sys::pfree(cstr.as_ptr() as *mut core::ffi::c_void);
            if detoasted != varlena {
                pg_sys::pfree(detoasted as *mut core::ffi::c_void);
            }
            Some(JsonbText(text))
        }
    }
}

impl IntoDatum for JsonbText {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        // The text came from jsonb_out, so it has no NUL and parses.
        let cstring = std::ffi::CString::new(self.0).ok()?;
        // SAFETY: jsonb_in(cstring) is a plain V1 function.
        unsafe { pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(cstring.as_ptr().into())]) }
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

arg_abi_via_from_datum!(JsonbText);

pgrx::impl_sql_translatable!(JsonbText, arg_only = "jsonb");
