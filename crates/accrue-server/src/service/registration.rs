//! Registration: each step a member takes is one store transaction.
