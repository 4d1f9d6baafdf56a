// The MODULE target seedpool.so is the seedpool_provider archive linked
// whole (see CMakeLists.txt); CMake wants at least one source of its own.
