//! What a member agreed to be told, per topic and channel: news and offers only with
//! consent; system messages always (they cannot be turned off).

/// What a message is about (Loymax's subscription types, by their external ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    DiscountOperation,
    PaymentOperation,
    DepositOperation,
    CommunicationOffer,
    System,
    Advertisement,
    RefundOperation,
}

/// How a message reaches the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Sms,
    Email,
    Push,
    Viber,
    SocialNetworks,
    ChatBot,
}

impl Topic {
    pub const ALL: [Topic; 7] = [
        Topic::DiscountOperation,
        Topic::PaymentOperation,
        Topic::DepositOperation,
        Topic::CommunicationOffer,
        Topic::System,
        Topic::Advertisement,
        Topic::RefundOperation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::DiscountOperation => "DiscountOperation",
            Topic::PaymentOperation => "PaymentOperation",
            Topic::DepositOperation => "DepositOperation",
            Topic::CommunicationOffer => "CommunicationOffer",
            Topic::System => "System",
            Topic::Advertisement => "Advertisement",
            Topic::RefundOperation => "RefundOperation",
        }
    }

    /// Any case.
    pub fn parse(text: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(text))
    }

    /// The topic's number (Loymax's `typeId`).
    pub fn id(self) -> i64 {
        Topic::ALL.iter().position(|t| *t == self).map_or(0, |i| i as i64 + 1)
    }

    pub fn by_id(id: i64) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The topic's name as members read it.
    pub fn title(self) -> &'static str {
        match self {
            Topic::DiscountOperation => "Скидки",
            Topic::PaymentOperation => "Оплата бонусами",
            Topic::DepositOperation => "Начисления",
            Topic::CommunicationOffer => "Персональные предложения",
            Topic::System => "Системная информация",
            Topic::Advertisement => "Рассылки",
            Topic::RefundOperation => "Возвраты",
        }
    }
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Sms,
        Channel::Email,
        Channel::Push,
        Channel::Viber,
        Channel::SocialNetworks,
        Channel::ChatBot,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Push => "push",
            Channel::Viber => "viber",
            Channel::SocialNetworks => "social_networks",
            Channel::ChatBot => "chat_bot",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// Whether the member cannot change this consent: system messages by the channels
/// Accrue sends them through.
pub fn read_only(topic: Topic, channel: Channel) -> bool {
    topic == Topic::System && matches!(channel, Channel::Sms | Channel::Email | Channel::Push | Channel::Viber)
}

/// The consent of a member who never said: only what cannot be turned off.
pub fn by_default(topic: Topic, channel: Channel) -> bool {
    read_only(topic, channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_channels_read_back() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
            assert_eq!(Topic::by_id(t.id()), Some(t));
        }
        assert_eq!(Topic::parse("advertisement"), Some(Topic::Advertisement));
        assert_eq!((Topic::System.id(), Topic::Advertisement.id()), (5, 6));
        assert_eq!(Topic::by_id(0), None);
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn only_system_messages_are_fixed_and_on() {
        assert!(read_only(Topic::System, Channel::Sms) && by_default(Topic::System, Channel::Sms));
        assert!(!read_only(Topic::System, Channel::ChatBot) && !by_default(Topic::System, Channel::ChatBot));
        assert!(!read_only(Topic::Advertisement, Channel::Sms) && !by_default(Topic::Advertisement, Channel::Email));
    }
}
