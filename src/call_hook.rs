//! The recorder's hooks on Python 3.9-3.11, written in C terms.
//!
//! Every function start and generator resumption must be heard. Hooks written in Python cost a
//! Python call each time, and any trace or profile hook puts CPython < 3.12 in its tracing mode
//! (3.11 then also gives up its specialised instructions): call-heavy suites recorded at several
//! times their plain run time.
//!
//! * The frame-evaluation hook (PEP 523) is called by the interpreter for each frame it runs,
//!   without tracing mode. It is the default.
//! * The profile hook is the fallback where another tool (a debugger) holds the frame-evaluation
//!   hook. A C profile function is never called for lines, unlike a C trace function, and leaves
//!   `sys.settrace` to coverage.py.
//!
//! Both answer "already seen in this collection?" with one word stored in the code object itself
//! (its `co_extra` slot, which CPython frees with the code): the generation of the collection it
//! was last added to. Only the first run of each code object per generation touches a dict, and
//! Python is called only while project modules execute (the recorder notes what runs beneath each
//! of their statements).
//!
//! The entry points used are outside the stable ABI this abi3 extension is built against: the
//! interpreter hands their addresses over (ctypes' `pythonapi`), and none may be missing.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

type ProfileFunction = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *mut ffi::PyObject,
    c_int,
    *mut ffi::PyObject,
) -> c_int;
/// PEP 523's `_PyFrameEvalFunction`; the frame is a frame object before 3.11, the interpreter's
/// internal frame from 3.11.
type EvalFunction =
    unsafe extern "C" fn(*mut ffi::PyThreadState, *mut c_void, c_int) -> *mut ffi::PyObject;

type SetProfile = unsafe extern "C" fn(Option<ProfileFunction>, *mut ffi::PyObject);
type FrameCode = unsafe extern "C" fn(*mut ffi::PyObject) -> *mut ffi::PyObject;
type RequestExtra =
    unsafe extern "C" fn(Option<unsafe extern "C" fn(*mut c_void)>) -> ffi::Py_ssize_t;
type GetExtra =
    unsafe extern "C" fn(*mut ffi::PyObject, ffi::Py_ssize_t, *mut *mut c_void) -> c_int;
type SetExtra = unsafe extern "C" fn(*mut ffi::PyObject, ffi::Py_ssize_t, *mut c_void) -> c_int;
type GetEval = unsafe extern "C" fn(*mut ffi::PyInterpreterState) -> EvalFunction;
type SetEval = unsafe extern "C" fn(*mut ffi::PyInterpreterState, EvalFunction);

/// The interpreter's entry points the hooks need (CPython 3.9-3.11 signatures).
struct Interpreter {
    set_profile: SetProfile,
    frame_code: FrameCode,
    get_extra: GetExtra,
    set_extra: SetExtra,
    get_eval: GetEval,
    set_eval: SetEval,
    default_eval: EvalFunction,
    /// Whether the evaluated frames are the interpreter's internal frames (3.11), whose code
    /// object is their fifth pointer, rather than frame objects.
    internal_frames: bool,
    /// Our `co_extra` slot, the same for every hook of the process.
    extra_index: ffi::Py_ssize_t,
}

static INTERPRETER: OnceLock<Interpreter> = OnceLock::new();

/// The generation of the collections: a code object whose `co_extra` slot holds the current
/// one is in the collection already. Bumped whenever the recorder empties the collection. Never
/// 0, which is what a code object nobody marked holds.
static GENERATION: AtomicUsize = AtomicUsize::new(1);

/// The hook that holds the frame-evaluation hook (a strong reference), null when none does.
static EVALUATING: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());
thread_local! {
    /// Whether the frame-evaluation hook collects this thread's frames: the recorder's windows
    /// in the thread that records the tests, always in the threads started while it records.
    static COLLECTS: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread runs `on_module_event`, whose frames (the recorder's own) are left
    /// alone: told of, they would recurse without end.
    static TELLING: Cell<bool> = const { Cell::new(false) };
}

/// The reserve at the bottom of the C stack of the thread that took the frame-evaluation hook
/// (the one that runs the tests), as `(lowest address, lowest a frame may start at)`; zero
/// where not known. Kept outside thread-local storage, which costs a call per frame in a
/// shared library: other threads' stacks lie elsewhere, and are left alone.
static STACK_LOW: AtomicUsize = AtomicUsize::new(0);
static STACK_FLOOR: AtomicUsize = AtomicUsize::new(0);

/// Whether the C stack of the thread that records is nearly out. Under a frame-evaluation hook
/// the interpreter (3.11; 3.9 and 3.10 never do) does not inline Python-to-Python calls:
/// every call costs C stack, so code that recurses without end under a raised recursion limit
/// (hypothesis raises it by 2,000 while a test runs) ran the stack out, a segmentation fault,
/// where plain Python raises `RecursionError`. The last quarter of the stack (at most 1 MiB)
/// is kept for the C code a frame runs.
fn stack_nearly_out() -> bool {
    let marker = 0u8;
    let here = std::hint::black_box(ptr::addr_of!(marker)) as usize;
    STACK_LOW.load(Ordering::Relaxed) <= here && here < STACK_FLOOR.load(Ordering::Relaxed)
}

/// The thread whose reserve `STACK_LOW` and `STACK_FLOOR` hold (0: none yet).
static STACK_THREAD: AtomicUsize = AtomicUsize::new(0);

/// Notes the calling thread's stack reserve for `stack_nearly_out`. Once per thread: the hook
/// is taken again for every test and every project module imported, and glibc finds the main
/// thread's stack by reading `/proc/self/maps` (a third of the dense benchmark's baseline time
/// when it was asked each time).
fn note_stack_reserve() {
    let thread = current_thread();
    if thread != 0 && STACK_THREAD.load(Ordering::Relaxed) == thread {
        return;
    }
    let (low, floor) = stack_reserve().unwrap_or((0, 0));
    STACK_LOW.store(low, Ordering::Relaxed);
    STACK_FLOOR.store(floor, Ordering::Relaxed);
    STACK_THREAD.store(thread, Ordering::Relaxed);
}

/// The calling thread's `pthread_t` (its stack's, as glibc and macOS place a thread's
/// descriptor in its stack); 0 where there is none.
#[cfg(unix)]
fn current_thread() -> usize {
    // SAFETY: a plain query about the calling thread.
    unsafe { libc::pthread_self() as usize }
}

#[cfg(not(unix))]
fn current_thread() -> usize {
    0
}

/// See `stack_nearly_out`; `None` where the thread's stack is not known.
#[cfg(target_os = "linux")]
fn stack_reserve() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is read, and destroyed.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &raw mut attr) != 0 {
            return None;
        }
        let mut low: *mut c_void = ptr::null_mut();
        let mut size: libc::size_t = 0;
        let found = libc::pthread_attr_getstack(&raw const attr, &raw mut low, &raw mut size);
        libc::pthread_attr_destroy(&raw mut attr);
        let low = low as usize;
        (found == 0 && size > 0).then(|| (low, low + (size / 4).min(1 << 20)))
    }
}

#[cfg(target_os = "macos")]
fn stack_reserve() -> Option<(usize, usize)> {
    // SAFETY: plain queries about the calling thread.
    unsafe {
        let thread = libc::pthread_self();
        let high = libc::pthread_get_stackaddr_np(thread) as usize;
        let size = libc::pthread_get_stacksize_np(thread);
        let low = high.checked_sub(size)?;
        (size > 0).then(|| (low, low + (size / 4).min(1 << 20)))
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn stack_reserve() -> Option<(usize, usize)> {
    None
}

/// Refuses to run a frame, as the interpreter does past its recursion limit.
fn refuse_frame() -> *mut ffi::PyObject {
    // SAFETY: called with the GIL held, from the frame-evaluation function.
    unsafe {
        ffi::PyErr_SetString(
            ffi::PyExc_RecursionError,
            c"maximum recursion depth exceeded: the C stack is nearly out".as_ptr(),
        );
    }
    ptr::null_mut()
}

// The `what` of a profile event (CPython's PyTrace_CALL and PyTrace_RETURN).
const CALL: c_int = 0;
const RETURN: c_int = 3;

/// The addresses, in this order, of `PyEval_SetProfile`, `PyFrame_GetCode`,
/// `_PyEval_RequestCodeExtraIndex`, `_PyCode_GetExtra`, `_PyCode_SetExtra`,
/// `_PyInterpreterState_GetEvalFrameFunc`, `_PyInterpreterState_SetEvalFrameFunc` and
/// `_PyEval_EvalFrameDefault`.
type Addresses = (usize, usize, usize, usize, usize, usize, usize, usize);

fn interpreter(addresses: Addresses, internal_frames: bool) -> PyResult<&'static Interpreter> {
    if let Some(known) = INTERPRETER.get() {
        return Ok(known);
    }
    let (set_profile, frame_code, request_extra, get_extra, set_extra, get_eval, set_eval, eval) =
        addresses;
    let all = [
        set_profile,
        frame_code,
        request_extra,
        get_extra,
        set_extra,
        get_eval,
        set_eval,
        eval,
    ];
    if all.contains(&0) {
        return Err(PyRuntimeError::new_err(
            "the interpreter does not export the entry points the recorder needs",
        ));
    }
    // SAFETY: the caller passes the addresses of these CPython functions, whose signatures are
    // the same in 3.9-3.11 (the only versions these hooks are made for).
    let found = unsafe {
        let request_extra = std::mem::transmute::<usize, RequestExtra>(request_extra);
        Interpreter {
            set_profile: std::mem::transmute::<usize, SetProfile>(set_profile),
            frame_code: std::mem::transmute::<usize, FrameCode>(frame_code),
            get_extra: std::mem::transmute::<usize, GetExtra>(get_extra),
            set_extra: std::mem::transmute::<usize, SetExtra>(set_extra),
            get_eval: std::mem::transmute::<usize, GetEval>(get_eval),
            set_eval: std::mem::transmute::<usize, SetEval>(set_eval),
            default_eval: std::mem::transmute::<usize, EvalFunction>(eval),
            internal_frames,
            // The slots hold plain numbers, which need no freeing.
            extra_index: request_extra(None),
        }
    };
    if found.extra_index < 0 {
        return Err(PyRuntimeError::new_err(
            "every code-object extra slot of the interpreter is taken",
        ));
    }
    Ok(INTERPRETER.get_or_init(|| found))
}

/// Hooks that add each code object run to `seen` (by `id`, as the recorder's collections are
/// kept), once per collection, and while `executing` or `modules` is not empty also hand each
/// start and end of a code object's run to `on_module_event(code, is_start)`.
#[pyclass(name = "CallHook", module = "pytest_difftest._core", frozen)]
pub struct CallHookPy {
    seen: Py<PyDict>,
    executing: Py<PyDict>,
    modules: Py<PyList>,
    on_module_event: Py<PyAny>,
    /// Whether a file is the project's, by name, as `on_module_event` finds out: the starts of
    /// code of files known not to be are not handed to it.
    project_files: Py<PyDict>,
    interpreter: &'static Interpreter,
}

#[pymethods]
impl CallHookPy {
    #[new]
    fn new(
        seen: Py<PyDict>,
        executing: Py<PyDict>,
        modules: Py<PyList>,
        on_module_event: Py<PyAny>,
        project_files: Py<PyDict>,
        addresses: Addresses,
        internal_frames: bool,
    ) -> PyResult<Self> {
        Ok(Self {
            seen,
            executing,
            modules,
            on_module_event,
            project_files,
            interpreter: interpreter(addresses, internal_frames)?,
        })
    }

    /// Takes the frame-evaluation hook for this hook, unless another tool holds it; returns
    /// whether it did. A thread's frames are collected only while it says `collect(True)`.
    fn take_evaluation(slf: &Bound<'_, Self>) -> bool {
        let api = slf.get().interpreter;
        // SAFETY: GIL held; the interpreter state is the current one.
        unsafe {
            let interp = ffi::PyInterpreterState_Get();
            let current = (api.get_eval)(interp) as usize;
            let ours = evaluate as EvalFunction as usize;
            if current != api.default_eval as usize && current != ours {
                return false;
            }
            let new = slf.clone().into_ptr();
            let old = EVALUATING.swap(new, Ordering::AcqRel);
            if !old.is_null() {
                ffi::Py_DECREF(old);
            }
            note_stack_reserve();
            (api.set_eval)(interp, evaluate);
        }
        true
    }

    /// Gives the frame-evaluation hook back to the interpreter. Frames that began under it
    /// finish under it, so the hook object stays alive.
    fn release_evaluation(&self) {
        // SAFETY: GIL held.
        unsafe {
            (self.interpreter.set_eval)(
                ffi::PyInterpreterState_Get(),
                self.interpreter.default_eval,
            )
        }
        COLLECTS.set(false);
    }

    /// Whether the frame-evaluation hook collects the calling thread's frames from now on.
    #[staticmethod]
    fn collect(on: bool) {
        COLLECTS.set(on);
    }

    /// Becomes the calling thread's profile function (`sys.getprofile()` is then this hook).
    fn install(slf: &Bound<'_, Self>) {
        // SAFETY: the GIL is held; the interpreter keeps its own reference to the hook object.
        unsafe { (slf.get().interpreter.set_profile)(Some(on_profile_event), slf.as_ptr()) }
    }

    /// Removes the calling thread's profile function.
    fn uninstall(&self) {
        // SAFETY: the GIL is held.
        unsafe { (self.interpreter.set_profile)(None, ptr::null_mut()) }
    }

    /// The collection `seen` was emptied: every code object counts as unseen again.
    #[staticmethod]
    fn forget() {
        if GENERATION.fetch_add(1, Ordering::Relaxed) == usize::MAX {
            GENERATION.store(1, Ordering::Relaxed);
        }
    }
}

/// The frame-evaluation function: collects the frame's code, then runs it as the interpreter
/// would have.
unsafe extern "C" fn evaluate(
    thread: *mut ffi::PyThreadState,
    frame: *mut c_void,
    throw: c_int,
) -> *mut ffi::PyObject {
    // SAFETY: set before this function is installed, never unset.
    let api = unsafe { INTERPRETER.get().unwrap_unchecked() };
    if stack_nearly_out() {
        return refuse_frame();
    }
    let hook = EVALUATING.load(Ordering::Acquire);
    if hook.is_null() || !COLLECTS.get() || TELLING.get() {
        // SAFETY: what the interpreter would have called.
        return unsafe { (api.default_eval)(thread, frame, throw) };
    }
    // SAFETY (whole body): the interpreter calls this with the GIL held and a live frame; the
    // hook object is kept alive by `EVALUATING`'s reference.
    unsafe {
        let py = Python::assume_attached();
        let hook = pyo3::Borrowed::from_ptr(py, hook).cast_unchecked::<CallHookPy>();
        let hook = hook.get();
        let code = if api.internal_frames {
            let code = *(frame as *mut *mut ffi::PyObject).add(4);
            ffi::Py_INCREF(code);
            code
        } else {
            (api.frame_code)(frame.cast())
        };
        // An exception may be pending: the one thrown into a generator (`throw`, also
        // GeneratorExit when one is closed) before its frame runs, any after. Our own work
        // must neither see nor clear it.
        let pending = Pending::take();
        if collect(hook, code).is_err()
            || (modules_executing(hook, py, true)
                && wanted(hook, py, code, true)
                && tell(hook, py, code, true).is_err())
        {
            ffi::PyErr_WriteUnraisable(code);
        }
        pending.restore();
        let result = (api.default_eval)(thread, frame, throw);
        if modules_executing(hook, py, false) {
            let pending = Pending::take();
            if wanted(hook, py, code, false) && tell(hook, py, code, false).is_err() {
                ffi::PyErr_WriteUnraisable(code);
            }
            pending.restore();
        }
        ffi::Py_DECREF(code);
        result
    }
}

/// The exception pending in the thread, set aside while the hook works.
struct Pending(*mut ffi::PyObject, *mut ffi::PyObject, *mut ffi::PyObject);

impl Pending {
    /// Sets the pending exception (if any) aside. GIL held.
    unsafe fn take() -> Self {
        let mut pending = Pending(ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        // SAFETY: the caller holds the GIL.
        unsafe { ffi::PyErr_Fetch(&mut pending.0, &mut pending.1, &mut pending.2) };
        pending
    }

    /// Makes it pending again, replacing whatever the hook's work left.
    unsafe fn restore(self) {
        // SAFETY: the caller holds the GIL; the references are the ones `take` fetched.
        unsafe { ffi::PyErr_Restore(self.0, self.1, self.2) }
    }
}

/// The profile function. Called with the GIL held, `hook` being a `CallHook`.
unsafe extern "C" fn on_profile_event(
    hook: *mut ffi::PyObject,
    frame: *mut ffi::PyObject,
    what: c_int,
    _arg: *mut ffi::PyObject,
) -> c_int {
    if what != CALL && what != RETURN {
        return 0; // calls of C functions, exceptions
    }
    // SAFETY (whole body): the interpreter calls profile functions with the GIL held, with a
    // live frame and the object the hook was installed with (`install`), which it keeps alive.
    unsafe {
        let py = Python::assume_attached();
        let hook = pyo3::Borrowed::from_ptr(py, hook).cast_unchecked::<CallHookPy>();
        let hook = hook.get();
        let code = (hook.interpreter.frame_code)(frame);
        if code.is_null() {
            return -1;
        }
        let mut failed = what == CALL && collect(hook, code).is_err();
        if !failed
            && modules_executing(hook, py, what == CALL)
            && wanted(hook, py, code, what == CALL)
        {
            failed = tell(hook, py, code, what == CALL).is_err();
        }
        ffi::Py_DECREF(code);
        if failed { -1 } else { 0 }
    }
}

/// Whether modules execute, so that `on_module_event` wants to hear of a start (or an end).
fn modules_executing(hook: &CallHookPy, py: Python<'_>, start: bool) -> bool {
    !hook.executing.bind(py).is_empty() || (start && !hook.modules.bind(py).is_empty())
}

/// Whether `on_module_event` wants to hear of this start or end of `code`'s run: the end of a
/// module's execution it follows, the start of code not known to be outside the project.
/// Modules execute mostly library code (a dataclass being built): a Python call for each of
/// its frames cost more than the rest of recording them.
unsafe fn wanted(hook: &CallHookPy, py: Python<'_>, code: *mut ffi::PyObject, start: bool) -> bool {
    // SAFETY: `code` is a live code object, the GIL is held.
    let code = unsafe { pyo3::Borrowed::from_ptr(py, code) };
    if !start {
        return hook
            .executing
            .bind(py)
            .contains(code.as_ptr() as usize)
            .unwrap_or(true);
    }
    let known = code
        .getattr(pyo3::intern!(py, "co_filename"))
        .and_then(|filename| hook.project_files.bind(py).get_item(filename));
    !matches!(known, Ok(Some(project)) if project.is_truthy().is_ok_and(|is| !is))
}

/// Hands a start or end of `code`'s run to `on_module_event`; an error is set when it fails.
unsafe fn tell(
    hook: &CallHookPy,
    py: Python<'_>,
    code: *mut ffi::PyObject,
    start: bool,
) -> Result<(), ()> {
    // SAFETY: `code` is a live code object, the GIL is held.
    let code = unsafe { pyo3::Borrowed::from_ptr(py, code) };
    TELLING.set(true);
    let told = hook.on_module_event.bind(py).call1((code, start));
    TELLING.set(false);
    told.map(drop).map_err(|error| error.restore(py))
}

/// Adds `code` to the hook's collection unless it is there already; an error is set when it
/// fails.
unsafe fn collect(hook: &CallHookPy, code: *mut ffi::PyObject) -> Result<(), ()> {
    let api = hook.interpreter;
    let generation = GENERATION.load(Ordering::Relaxed);
    // SAFETY (whole body): GIL held, `code` a live code object.
    unsafe {
        let mut extra: *mut c_void = ptr::null_mut();
        if (api.get_extra)(code, api.extra_index, &mut extra) != 0 {
            return Err(());
        }
        if extra as usize == generation {
            return Ok(());
        }
        if (api.set_extra)(code, api.extra_index, generation as *mut c_void) != 0 {
            return Err(());
        }
        let key = ffi::PyLong_FromVoidPtr(code.cast());
        if key.is_null() {
            return Err(());
        }
        let stored = ffi::PyDict_SetItem(hook.seen.as_ptr(), key, code);
        ffi::Py_DECREF(key);
        if stored == 0 { Ok(()) } else { Err(()) }
    }
}
