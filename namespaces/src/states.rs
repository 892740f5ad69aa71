//! The states a namespace's handlers read, as socketioxide holds them: one value per type
//! for the whole server. A descriptor builds its [`StateSet`]; the gateway installs every
//! set in the Socket.IO builder and reads back the ones its HTTP API shares.

use std::any::Any;
use std::sync::Arc;

use socketioxide::SocketIoBuilder;
use socketioxide::adapter::Adapter;

type Install<A> = Box<dyn FnOnce(SocketIoBuilder<A>) -> SocketIoBuilder<A> + Send>;

/// States to install in a Socket.IO builder.
pub struct StateSet<A: Adapter> {
    installs: Vec<Install<A>>,
    values: SharedStates,
}

impl<A: Adapter> Default for StateSet<A> {
    fn default() -> Self {
        Self {
            installs: Vec::new(),
            values: SharedStates::default(),
        }
    }
}

impl<A: Adapter> StateSet<A> {
    pub fn with<S: Clone + Send + Sync + 'static>(mut self, state: S) -> Self {
        self.values.0.push(Arc::new(state.clone()));
        self.installs
            .push(Box::new(move |builder| builder.with_state(state)));
        self
    }

    pub fn merge(mut self, other: Self) -> Self {
        self.installs.extend(other.installs);
        self.values.0.extend(other.values.0);
        self
    }

    /// Installs every state; returns the builder and what was installed, to read back.
    pub fn install(self, builder: SocketIoBuilder<A>) -> (SocketIoBuilder<A>, SharedStates) {
        let builder = self
            .installs
            .into_iter()
            .fold(builder, |b, install| install(b));
        (builder, self.values)
    }
}

/// The installed states, by type.
#[derive(Default, Clone)]
pub struct SharedStates(Vec<Arc<dyn Any + Send + Sync>>);

impl SharedStates {
    /// The installed state of type `S`, when some namespace installs one.
    pub fn get<S: Clone + 'static>(&self) -> Option<S> {
        self.0.iter().find_map(|v| v.downcast_ref::<S>().cloned())
    }
}

#[cfg(test)]
mod tests {
    use socketioxide::SocketIo;
    use socketioxide::adapter::LocalAdapter;

    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct First(u8);
    #[derive(Clone, Debug, PartialEq)]
    struct Second(&'static str);

    #[test]
    fn merged_sets_install_every_state_and_read_back_each_by_type() {
        let one = StateSet::<LocalAdapter>::default().with(First(1));
        let two = StateSet::default().with(Second("two"));
        let (_builder, shared) = one.merge(two).install(SocketIo::builder());
        assert_eq!(shared.get::<First>(), Some(First(1)));
        assert_eq!(shared.get::<Second>(), Some(Second("two")));
        assert_eq!(shared.get::<u32>(), None);
    }
}
