//! The one ONNX Runtime environment of the process (docs/ARCHITECTURE.md, "Threads and queues").
//!
//! ONNX Runtime is loaded at run time (`load-dynamic`) from the PyPI wheel that set-up
//! unpacked into the cache, so the binary needs no ONNX Runtime at build time and an
//! edge node can swap in the GPU build. Sessions share one global thread pool, but for the
//! camera detector's frames side by side on a CPU (one thread each, `detector.rs`).

use ort::environment::{Environment, GlobalThreadPoolOptions};
use ort::ep::{self, ExecutionProvider};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The ONNX Runtime release the `api-31` bindings need.
pub const ORT_VERSION: &str = "1.31.1";

/// Which execution provider runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderChoice {
    /// CUDA when the runtime has it and a GPU answers, else CPU.
    Auto,
    Cpu,
    /// CUDA or fail.
    Cuda,
}

/// The provider actually in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Cpu => "CPU",
            Provider::Cuda => "CUDA",
        }
    }
}

/// Where the ONNX Runtime library is: `ORT_DYLIB_PATH`, else the cache set-up fills.
pub fn dylib_path() -> PathBuf {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return p.into();
    }
    super::manifest::cache_dir()
        .join(format!("onnxruntime-{ORT_VERSION}"))
        .join("onnxruntime/capi")
        .join(format!("libonnxruntime.so.{ORT_VERSION}"))
}

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The process's ONNX Runtime environment, created on first use with `intra_threads`
/// threads in the global pool (later calls get the same environment).
pub fn environment(intra_threads: usize) -> Result<Environment, String> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = dylib_path();
            if !path.exists() {
                return Err(format!(
                    "ONNX Runtime {ORT_VERSION} not found at {}: run scripts/setup.sh (or ./run demo), \
                     or set ORT_DYLIB_PATH to libonnxruntime.so.{ORT_VERSION}",
                    path.display()
                ));
            }
            // The library must be loaded before any other ort call, the pool options included.
            let builder =
                ort::init_from(&path).map_err(|e| format!("loading ONNX Runtime from {}: {e}", path.display()))?;
            let pool = GlobalThreadPoolOptions::default()
                .with_intra_threads(intra_threads.max(1))
                .and_then(|p| p.with_inter_threads(1))
                // Spinning: a model run on the pool's threads waits at every operator's join;
                // without spinning each wake-up left cores idle (on 2 cores the camera path,
                // then on this pool, ran 35.2 frames/s spinning against 30.4; issue 21).
                .and_then(|p| p.with_spin_control(true))
                .map_err(|e| format!("ONNX Runtime thread pool: {e}"))?;
            let env = builder
                .with_name("qorovul")
                .with_telemetry(false)
                .with_global_thread_pool(pool)
                .build()
                .map_err(|e| format!("creating the ONNX Runtime environment: {e}"))?;
            tracing::info!(path = %path.display(), threads = intra_threads, "ONNX Runtime loaded");
            Ok(env)
        })
        .clone()
}

/// A session builder with the chosen provider registered, and which provider that is.
pub fn session_builder(
    env: &Environment,
    choice: ProviderChoice,
) -> Result<(ort::session::builder::SessionBuilder, Provider), String> {
    let builder = ort::session::Session::builder(env).map_err(|e| format!("ONNX Runtime session: {e}"))?;
    let cuda_compiled = ep::CUDA::is_available().unwrap_or(false);
    match choice {
        ProviderChoice::Cpu => Ok((builder, Provider::Cpu)),
        ProviderChoice::Cuda if !cuda_compiled => {
            Err("provider = \"cuda\" but this ONNX Runtime has no CUDA provider (install onnxruntime-gpu)".into())
        }
        ProviderChoice::Auto if !cuda_compiled => Ok((builder, Provider::Cpu)),
        ProviderChoice::Auto | ProviderChoice::Cuda => {
            match builder.with_execution_providers([ep::CUDA::default().build().error_on_failure()]) {
                Ok(b) => Ok((b, Provider::Cuda)),
                Err(e) if choice == ProviderChoice::Auto => {
                    tracing::warn!("CUDA provider present but unusable, using CPU: {e}");
                    let builder =
                        ort::session::Session::builder(env).map_err(|e| format!("ONNX Runtime session: {e}"))?;
                    Ok((builder, Provider::Cpu))
                }
                Err(e) => Err(format!("CUDA provider: {e}")),
            }
        }
    }
}
